"""Schedules: ``schedules/<slug>.md``. When a team's agents may run, in the team's timezone.

Windows are ``{weekday, start, end}``: weekday 0 = Monday (absent: every day), start and end
``HH:MM`` local times (``H`` accepted on input). business_hours windows must end after they
start; nightly windows may wrap past midnight (the part after midnight belongs to the next
day). start == end is refused everywhere: it is either empty or a whole day, never clear.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError
from .spec import Field, Noun, boolean, one_of, slug, text

POLICIES = ("always_on", "business_hours", "nightly", "manual_only", "burst_on_backlog")
CLOCK_RE = re.compile(r"(\d{1,2})(?::(\d{2}))?\Z")


def minutes(value: Any, key: str) -> int:
    """``9``, ``"9"``, ``"09:30"`` -> minutes after midnight (0..1440), else ValidationError."""
    m = CLOCK_RE.match(str(value).strip())
    if m:
        hours, mins = int(m.group(1)), int(m.group(2) or 0)
        total = hours * 60 + mins
        if mins < 60 and 0 <= total <= 1440:
            return total
    raise ValidationError(
        f"{key}: must be a time of day H or HH:MM from 0:00 to 24:00 (got {value!r})"
    )


def clock(total: int) -> str:
    return f"{total // 60:02d}:{total % 60:02d}"


def parse_window(spec: str) -> dict[str, Any]:
    """``WEEKDAY,START,END`` (the CLI form; ``*`` for every day) -> a window mapping."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 3:
        raise ValidationError(
            f"window {spec!r}: expected WEEKDAY,START,END like 0,9,17 or 4,9:30,17:30"
        )
    day, start, end = parts
    window: dict[str, Any] = {}
    if day not in ("*", ""):
        if not day.isdigit() or not 0 <= int(day) <= 6:
            raise ValidationError(f"window {spec!r}: weekday must be 0 (Monday) to 6 (Sunday) or *")
        window["weekday"] = int(day)
    window["start"] = clock(minutes(start, "window start"))
    window["end"] = clock(minutes(end, "window end"))
    return window


def _timezone(value: Any) -> str | None:
    """An IANA timezone name that zoneinfo knows."""
    if not isinstance(value, str) or not value.strip():
        return "must be an IANA timezone such as Europe/Berlin"
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
    except Exception:
        return "is not a known IANA timezone (for example Europe/Berlin, America/New_York, UTC)"
    return None


def _windows(value: Any) -> str | None:
    return None if isinstance(value, list) else "must be a list of {weekday, start, end}"


_timezone.json = {"type": "string", "description": "IANA timezone"}  # type: ignore[attr-defined]
_windows.json = {  # type: ignore[attr-defined]
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["start", "end"],
        "properties": {
            "weekday": {
                "anyOf": [{"type": "integer", "minimum": 0, "maximum": 6}, {"type": "null"}]
            },
            "start": {"type": "string", "pattern": r"^\d{1,2}(:\d{2})?(?![\s\S])"},
            "end": {"type": "string", "pattern": r"^\d{1,2}(:\d{2})?(?![\s\S])"},
        },
    },
}


def _rules(meta: dict[str, Any]) -> None:
    policy = meta.get("policy")
    windows = meta.get("windows") or []
    for i, w in enumerate(windows):
        key = f"windows[{i}]"
        if not isinstance(w, dict):
            raise ValidationError(f"windows: item {i} must be a mapping with weekday, start, end")
        unknown = set(w) - {"weekday", "start", "end"}
        if unknown:
            raise ValidationError(f"windows: {key} has unknown keys {sorted(unknown)}")
        day = w.get("weekday")
        if day is not None and (
            not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6
        ):
            raise ValidationError(
                f"windows: {key}.weekday must be 0 (Monday) to 6 (Sunday) (got {day!r})"
            )
        start, end = (
            minutes(w.get("start"), f"windows {key}.start"),
            minutes(w.get("end"), f"windows {key}.end"),
        )
        if start == end:
            raise ValidationError(
                f"windows: {key} starts and ends at {clock(start)}: an empty window"
            )
        if policy == "business_hours" and start > end:
            raise ValidationError(
                f"windows: {key} ends ({clock(end)}) before it starts ({clock(start)}); "
                "only nightly windows may wrap past midnight"
            )
    if policy in ("business_hours", "nightly") and not windows:
        raise ValidationError(f"windows: a {policy} schedule needs at least one window (--window)")


SCHEDULE = Noun(
    name="schedule",
    dir="schedules",
    fields=(
        Field("team", slug, required=True, ref="team", help="the team it applies to"),
        Field("timezone", _timezone, required=True, help="IANA timezone"),
        Field("policy", one_of(*POLICIES), required=True, help=", ".join(POLICIES)),
        Field("windows", _windows),
        Field("enabled", boolean, default=True),
        Field("note", text),
    ),
    extra=_rules,
)
