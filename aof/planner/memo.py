"""The plan again, without planning again, while nothing it reads has changed.

A daemon plans every few seconds, and in a quiet fleet most ticks see the same open tasks as
the last one: the same plan, but for its time. :class:`PlanMemo` gives what
:func:`aof.planner.plan.plan` would give, byte for byte, and plans again only when it could
differ:

- an input differs: a task's row (compared by identity first: the daemon's listing hands out
  the same rows while their files are unchanged), the states, the registry, heartbeats,
  pauses, installed coders, spend, config, or ``pull``;
- time reached an instant the plan compared with ``now`` and decided the other way: a lease's
  expiry, a ``retry_after``, an SLA's deadline, a coder's pause, the month's end (budgets);
- a team's desired state at ``now`` (its schedule, its override) is not the one planned with;
- time went back (a replay, a clock set by hand).

Which instants matter is read from the same fields the planner reads (:func:`horizon`); a
test checks the memo against the planner over drawn fleets and times.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast

from ..clock import format_time, parse_time
from ..model.shapes import Plan, PlanAction
from ..model.sla import limit_for, period_start
from .plan import desired_states, plan

_INPUTS = (
    "states",
    "teams",
    "schedules",
    "projects",
    "hosts",
    "agents",
    "heartbeats",
    "coder_pauses",
    "coders_missing",
    "spend",
)


class PlanMemo:
    """The last plan, its inputs, and until when it holds."""

    def __init__(self) -> None:
        self._snap: dict[str, Any] | None = None
        self._config: dict[str, Any] | None = None
        self._pull = False
        self._at = 0.0
        self._until = 0.0
        self._desired: dict[str, Any] = {}
        self._result: Plan | None = None
        self._given: Plan | None = None  # what plan() returned last
        self._json: tuple[str, ...] | None = None  # its actions, order, waiting as JSON
        self.hits = 0

    def plan(
        self, snap: dict[str, Any], now: datetime, config: dict[str, Any], *, pull: bool = False
    ) -> Plan:
        """:func:`aof.planner.plan.plan` of these inputs (the last one's, re-timed, when it
        holds)."""
        t = now.timestamp()
        last = self._result
        if (
            last is not None
            and self._at <= t < self._until
            and pull == self._pull
            and config == self._config
            and self._same_snapshot(snap)
            and desired_states(snap["tasks"], snap, now) == self._desired
        ):
            self.hits += 1
            given: Plan = {
                "at": format_time(now),
                "actions": [cast(PlanAction, dict(a)) for a in last["actions"]],
                "waiting": list(last["waiting"]),
                "order": list(last["order"]),
            }
            self._given = given
            return given
        result = plan(snap, now, config, pull=pull)
        self._snap, self._config, self._pull = snap, config, pull
        self._at, self._until = t, horizon(snap, now)
        self._desired = desired_states(snap["tasks"], snap, now)
        # Kept apart from what the caller gets, so nothing it does to its plan reaches the next.
        self._result = {
            "at": result["at"],
            "actions": [cast(PlanAction, dict(a)) for a in result["actions"]],
            "waiting": list(result["waiting"]),
            "order": list(result["order"]),
        }
        self._given, self._json = result, None
        return result

    def digest(self, result: Plan) -> str:
        """:func:`aof.planner.plan.digest` of ``result``, the plan this memo just gave: the
        JSON of a plan's actions, order and waiting is made once for all the ticks it holds."""
        last = self._result
        if result is not self._given or last is None:
            from .plan import digest

            return digest(result)
        if self._json is None:
            parts = (last["actions"], last["order"], last["waiting"])
            self._json = tuple(_canonical(part) for part in parts)
        actions, order, waiting = self._json
        text = f'{{"actions":{actions},"at":{_canonical(result["at"])},"order":{order},'
        text += f'"waiting":{waiting}}}'
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def _same_snapshot(self, snap: dict[str, Any]) -> bool:
        old = self._snap
        if old is None:
            return False
        rows, before = snap["tasks"], old["tasks"]
        if len(rows) != len(before):
            return False
        if not all(a is b or a == b for a, b in zip(rows, before, strict=True)):
            return False
        return all(snap.get(k) == old.get(k) for k in _INPUTS)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def horizon(snap: dict[str, Any], now: datetime) -> float:
    """The first instant after ``now`` (a timestamp) at which a plan of ``snap`` may differ
    from the plan at ``now``: the earliest future lease expiry, ``retry_after``, SLA deadline
    or pause end, or the start of the next month."""
    t = now.timestamp()
    soon = _next_month(now)
    beats = snap.get("heartbeats") or {}

    def consider(when: str | None) -> None:
        nonlocal soon
        if when and (x := parse_time(when).timestamp()) > t:
            soon = min(soon, x)

    for row in snap["tasks"]:
        state = row["state"]
        if state in ("in-progress", "review"):
            consider(beats.get(row["id"]) or row.get("expires"))
        consider(row.get("retry_after"))
        if row.get("sla") is not None and not row.get("sla_notified"):
            limit = limit_for(row["sla"], str(state))
            since = period_start(str(state), row)
            if limit and since:
                deadline = parse_time(since).timestamp() + limit
                if deadline >= t:  # breached once now is past it: the plan changes there
                    soon = min(soon, deadline + 1e-6)
    for until in (snap.get("coder_pauses") or {}).values():
        consider(until)
    return soon  # every candidate is after now


def _next_month(now: datetime) -> float:
    utc = now.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()
