"""Service levels of a task: how long it may stay in a state, and durations like ``4h``.

A task's ``sla`` is one of:

- a duration (``sla: 4h``): at most that long in each of ready, in-progress and review;
- a mapping of states to durations (``sla: {ready: 2h, in-progress: 4h, review: 1d}``);
  ``blocked`` may be named too (a question nobody answers);
- the older ``{max_in_progress_s: N}``: at most N seconds in progress.

Each period is measured from the task's last transition (``entered``, written by every move;
older files fall back to the lease's ``acquired``, then ``updated``, then ``created``). A
breach is noticed once per period (``sla_notified``, cleared by the next move). Durations are
whole numbers with a unit, summed: ``45s``, ``30m``, ``4h``, ``2d``, ``1w``, ``1h30m``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ValidationError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Python's `$` would take a trailing newline; `(?![\s\S])` is the end of the text, in the
# schema's ECMA dialect too (schemas/task.schema.json uses the same pattern).
DURATION_PATTERN = r"^(?=.*[1-9])([0-9]+[smhdw])+(?![\s\S])"
DURATION_RE = re.compile(DURATION_PATTERN)
STATES = ("ready", "in-progress", "review", "blocked")  # states a period may be limited in
BARE_STATES = ("ready", "in-progress", "review")  # what `sla: 4h` limits
LEGACY = "max_in_progress_s"
OFF = ("none", "off")


def parse_duration(text: Any, where: str = "duration") -> int:
    """Seconds of ``text`` (``30m``, ``4h``, ``2d``, ``1h30m``); ValidationError naming
    ``where`` and the value otherwise."""
    if not isinstance(text, str) or not DURATION_RE.match(text.strip()):
        raise ValidationError(
            f"{where}: {text!r} is not a duration (a number and a unit s, m, h, d or w: "
            "30m, 4h, 2d, 1h30m)"
        )
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"([0-9]+)([smhdw])", text.strip()))


def format_duration(seconds: float) -> str:
    """``14400`` as ``4h``, ``5400`` as ``1h30m``: the largest units that add up."""
    left, parts = int(seconds), []
    for unit, size in sorted(UNITS.items(), key=lambda u: -u[1]):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


def sla_problem(value: Any) -> tuple[str, str] | None:
    """(field, message) of what is wrong with a task's ``sla``, or None when it is valid."""
    if isinstance(value, str):
        return None if DURATION_RE.match(value) else ("sla", _not_duration(value))
    if not isinstance(value, dict):
        return ("sla", f"must be a duration like 4h or a mapping of states (got {value!r})")
    for key, limit in value.items():
        if key == LEGACY:
            if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
                return (f"sla.{key}", f"must be a number of seconds > 0 (got {limit!r})")
        elif key not in STATES:
            return (f"sla.{key}", f"not a state an SLA limits ({', '.join(STATES)})")
        elif not isinstance(limit, str) or not DURATION_RE.match(limit):
            return (f"sla.{key}", _not_duration(limit))
    return None


def _not_duration(value: Any) -> str:
    return f"must be a duration like 30m, 4h, 2d (got {value!r})"


def limit_for(sla: Any, state: str) -> int | None:
    """The seconds a task with ``sla`` may stay in ``state``, or None (no limit). A value
    that is not valid limits nothing (the validator names it on the next write)."""
    if sla is None or sla_problem(sla) is not None:
        return None
    if isinstance(sla, str):
        return parse_duration(sla) if state in BARE_STATES else None
    if state in sla:
        return parse_duration(sla[state])
    if state == "in-progress" and LEGACY in sla:
        return int(sla[LEGACY])
    return None


def period_start(state: str, fields: Mapping[str, Any]) -> str | None:
    """When the task's current period in ``state`` began: ``entered``, else (in progress)
    ``acquired``, else ``updated``, else ``created``. ``fields`` is a listing row or a
    task's frontmatter (whose lease holds ``acquired``)."""
    lease = fields.get("lease")
    acquired = fields.get("acquired") or (
        lease.get("acquired") if isinstance(lease, dict) else None
    )
    candidates = [fields.get("entered"), acquired if state == "in-progress" else None]
    for value in [*candidates, fields.get("updated"), fields.get("created")]:
        if isinstance(value, str) and value:
            return value
    return None


def apply_specs(current: Any, specs: Sequence[str], where: str = "sla") -> Any:
    """The ``sla`` after ``specs`` (``4h``; ``review=1d`` per state; ``none`` removes).

    A bare duration replaces the whole SLA; ``STATE=DURATION`` sets one state's limit on top
    of what is there (a bare ``4h`` already set counts as each of ready, in-progress and
    review); ``STATE=none`` removes one. None when nothing is left. ValidationError naming
    the spec otherwise.
    """
    value: Any = current
    for raw in specs:
        spec = raw.strip()
        state, sep, text = spec.partition("=")
        if not sep:
            if spec.lower() in OFF:
                value = None
                continue
            parse_duration(spec, f"{where} {raw!r}")
            value = spec
            continue
        state = state.strip()
        if state not in STATES:
            raise ValidationError(
                f"{where} {raw!r}: {state!r} is not a state an SLA limits ({', '.join(STATES)})"
            )
        table = _as_table(value)
        if text.strip().lower() in OFF:
            table.pop(state, None)
        else:
            parse_duration(text.strip(), f"{where} {raw!r}")
            table[state] = text.strip()
        value = table or None
    return value


def _as_table(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict.fromkeys(BARE_STATES, value)
    if isinstance(value, dict):
        return dict(value)
    return {}


__all__ = [
    "BARE_STATES",
    "DURATION_PATTERN",
    "STATES",
    "apply_specs",
    "format_duration",
    "limit_for",
    "parse_duration",
    "period_start",
    "sla_problem",
]
