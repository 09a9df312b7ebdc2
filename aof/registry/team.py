"""Teams: ``teams/<slug>.md``. A team owns projects, has schedules and may carry an override;
its ``workflow`` is the one of its tasks that name none of their own and whose project
names none (docs/workflows.md)."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .spec import Field, Noun, budget, integer, mapping, slug, text

OVERRIDE_STATES = ("running", "paused", "stopped")


def _override(meta: dict[str, Any]) -> None:
    ov = meta.get("override")
    if ov is None:
        return
    mode = ov.get("mode")
    if mode not in ("force", "freeze"):
        raise ValidationError(f"override.mode: must be force or freeze (got {mode!r})")
    if mode == "force" and ov.get("state") not in OVERRIDE_STATES:
        raise ValidationError(
            f"override.state: must be one of {', '.join(OVERRIDE_STATES)} (got {ov.get('state')!r})"
        )
    if mode == "freeze" and not ov.get("until"):
        raise ValidationError("override.until: a freeze needs the time it ends")
    if ov.get("until") is not None:
        from ..model.task import _is_time

        if not _is_time(ov["until"]):
            raise ValidationError(f"override.until: must be an ISO 8601 time (got {ov['until']!r})")


TEAM = Noun(
    name="team",
    dir="teams",
    fields=(
        Field("name", text, required=True, help="the team's display name"),
        Field("mission", text, required=True, help="what the team is for"),
        Field("ownership", text, required=True, help="who owns it, e.g. company"),
        Field("business_priority", integer(0, 100), default=0),
        Field("lead", text),
        Field("max_concurrent", integer(0)),
        Field("workflow", slug, help="the workflow of its tasks (workflows/<name>.yaml)"),
        Field("override", mapping),
        Field(
            "budget",
            budget,
            help="monthly budget, {usd_month: N}: over it, no new work is dispatched to it "
            "until the next month (docs/cost.md)",
        ),
    ),
    extra=_override,
)
