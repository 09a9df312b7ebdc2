"""Desired state: what a team (or project) should be doing at time t, and why.

One pure function answers this for every caller (``aof schedule eval`` now; the scheduler,
``aof reconcile``, ``aof fleet overview`` and MCP later), so they can never disagree. Time is
always an argument; schedules are evaluated on the wall clock of their own IANA timezone, so
business hours follow daylight-saving changes.

Rules, in order (ao-fleet's, with its gaps closed):

1. an active team override wins: ``force`` puts the team in its state (until ``until``, if
   given), ``freeze`` pauses it until ``until``; an expired override is ignored;
2. otherwise each enabled schedule gives a state: always_on running; manual_only stopped;
   burst_on_backlog running when the team has open work (ready or in progress, counted from
   the task directories), else paused; business_hours and nightly running inside one of their
   windows, else paused;
3. the team takes the highest of those (running > paused > stopped);
4. a team with schedules, all disabled, is stopped; a team with no schedule at all runs
   (ao-fleet stops it; for a task fabric, "no schedule" means "no restriction").
A project is stopped when it is disabled, else it follows its team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ..clock import parse_time
from ..registry.schedule import clock, minutes

RANK = {"running": 2, "paused": 1, "stopped": 0}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Desired(NamedTuple):
    state: str  # running | paused | stopped
    reason: str
    schedules: tuple[str, ...] = ()
    override: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "schedules": list(self.schedules),
            "override_applied": self.override,
        }


def _window_text(w: dict[str, Any]) -> str:
    day = DAYS[w["weekday"]] if w.get("weekday") is not None else "daily"
    return f"{day} {clock(minutes(w['start'], 'start'))}-{clock(minutes(w['end'], 'end'))}"


def in_window(w: dict[str, Any], local: datetime) -> bool:
    """Whether local wall-clock time ``local`` falls inside window ``w`` (wrap allowed)."""
    start, end = minutes(w["start"], "start"), minutes(w["end"], "end")
    now = local.hour * 60 + local.minute
    day = w.get("weekday")
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    if start < end:
        return (day is None or day == today) and start <= now < end
    # Wraps past midnight: the evening part belongs to `day`, the morning part to the day after.
    return ((day is None or day == today) and now >= start) or (
        (day is None or day == yesterday) and now < end
    )


def evaluate_schedule(schedule: dict[str, Any], at: datetime, open_work: int) -> Desired:
    """The state one schedule asks for at ``at`` (aware datetime), with the reason."""
    slug = str(schedule.get("slug"))
    tz = str(schedule.get("timezone", "UTC"))
    local = at.astimezone(ZoneInfo(tz))
    when = f"{DAYS[local.weekday()]} {local:%H:%M} {tz}"
    policy = schedule.get("policy")
    if schedule.get("enabled") is False:
        return Desired("stopped", f"schedule {slug} is disabled", (slug,))
    if policy == "always_on":
        return Desired("running", f"schedule {slug} is always_on", (slug,))
    if policy == "manual_only":
        return Desired(
            "stopped", f"schedule {slug} is manual_only: runs only when started by hand", (slug,)
        )
    if policy == "burst_on_backlog":
        if open_work > 0:
            return Desired(
                "running", f"schedule {slug}: {open_work} open task(s) (burst_on_backlog)", (slug,)
            )
        return Desired("paused", f"schedule {slug}: no open tasks (burst_on_backlog)", (slug,))
    windows = schedule.get("windows") or []
    for w in windows:
        if in_window(w, local):
            return Desired(
                "running",
                f"schedule {slug}: inside {policy} window {_window_text(w)} (now {when})",
                (slug,),
            )
    shown = ", ".join(_window_text(w) for w in windows[:4])
    return Desired(
        "paused", f"schedule {slug}: outside its {policy} windows {shown} (now {when})", (slug,)
    )


def override_in_force(override: dict[str, Any] | None, at: datetime) -> bool:
    if not override:
        return False
    until = override.get("until")
    return until is None or at < parse_time(str(until))


def desired_team(
    team: dict[str, Any], schedules: list[dict[str, Any]], at: datetime, open_work: int = 0
) -> Desired:
    """The desired state of ``team`` at ``at`` given its schedules and open work, and why."""
    slug = team.get("slug")
    override = team.get("override")
    if override_in_force(override, at):
        assert override is not None
        until = f" until {override['until']}" if override.get("until") else ""
        note = f": {override['note']}" if override.get("note") else ""
        if override.get("mode") == "freeze":
            return Desired("paused", f"team {slug} is frozen{until}{note}", override=True)
        state = str(override.get("state") or "paused")
        return Desired(state, f"team {slug} is forced {state}{until}{note}", override=True)
    mine = [s for s in schedules if s.get("team") == slug]
    if not mine:
        return Desired("running", f"team {slug} has no schedule: always on")
    results = [evaluate_schedule(s, at, open_work) for s in mine]
    best = max(results, key=lambda d: RANK[d.state])
    enabled = [r for r in results if not r.reason.endswith("is disabled")]
    if not enabled:
        return Desired(
            "stopped",
            f"team {slug}: every schedule is disabled",
            tuple(s for r in results for s in r.schedules),
        )
    return Desired(best.state, best.reason, tuple(s for r in results for s in r.schedules))


def desired_project(project: dict[str, Any], team_state: Desired) -> Desired:
    if project.get("enabled") is False:
        return Desired("stopped", f"project {project.get('slug')} is disabled")
    return team_state
