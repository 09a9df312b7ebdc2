"""Fleet overviews: one read of the registry and the task directories, for people and agents.

``overview`` answers "what is the fleet doing": counts, each team with its projects,
schedules, desired state now (and why) and its work by state, hosts with used and free slots,
recent audit records. ``founder`` adds company-wide placements, overrides, agents and a longer
audit tail. Work is counted from the task directories, never typed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..journal.audit import tail
from ..model.task import STATES, TERMINAL
from ..planner.desired import desired_team

if TYPE_CHECKING:
    from ..service.context import ServiceContext

OPEN = {s.value: 0 for s in STATES if s not in TERMINAL}  # per-team work: open states only


def overview(
    fleet: ServiceContext,
    *,
    team: str | None = None,
    at: datetime | None = None,
    audit_tail: int = 10,
) -> dict[str, Any]:
    from ..clock import format_time

    when = at or fleet.clock.now()
    reg = fleet.registry
    teams = reg.rows("team")
    if team is not None:
        reg.get("team", team)  # NotFound for an unknown team
        teams = [t for t in teams if t["slug"] == team]
    projects, schedules = reg.rows("project"), reg.rows("schedule")
    hosts, agents = reg.rows("host"), reg.rows("agent")
    # Open work is parsed (team, project, state); done and cancelled are only counted: a
    # year of finished tasks must not slow the overview down. Only counted, so not sorted.
    tasks, _problems = fleet.tasks.summaries([s for s in STATES if s not in TERMINAL])
    finished = {s.value: fleet.tasks.count(s) for s in TERMINAL}
    project_host = {p["slug"]: p.get("host") for p in projects}
    work: dict[str, dict[str, int]] = {}
    used: dict[str, int] = {}
    by_state = {s.value: 0 for s in STATES}
    for row in tasks:
        by_state[row["state"]] += 1
        work.setdefault(str(row.get("team")), dict(OPEN))[row["state"]] += 1
        if row["state"] == "in-progress":
            host = project_host.get(str(row.get("project")))
            if host:
                used[host] = used.get(host, 0) + 1
    team_rows = [
        _team_row(t, projects, schedules, work.get(t["slug"], dict(OPEN)), when) for t in teams
    ]
    team_rows.sort(key=lambda r: (-(r["business_priority"] or 0), r["slug"]))
    host_rows = [
        {
            "slug": h["slug"],
            "name": h.get("name"),
            "status": h.get("status"),
            "capacity_slots": h.get("capacity_slots", 1),
            "used_slots": used.get(h["slug"], 0),
            "free_slots": max(0, int(h.get("capacity_slots", 1)) - used.get(h["slug"], 0)),
        }
        for h in hosts
    ]
    by_state.update(finished)
    return {
        "evaluated_at": format_time(when),
        "counts": {
            "teams": len(teams),
            "projects": len(projects),
            "projects_enabled": sum(1 for p in projects if p.get("enabled", True)),
            "schedules": len(schedules),
            "schedules_enabled": sum(1 for s in schedules if s.get("enabled", True)),
            "hosts": len(hosts),
            "agents": len(agents),
            "tasks": by_state,
        },
        "teams": team_rows,
        "hosts": host_rows,
        "recent_audit": tail(fleet.audit, audit_tail) if audit_tail else [],
    }


def _team_row(
    t: dict[str, Any],
    projects: list[dict[str, Any]],
    schedules: list[dict[str, Any]],
    counts: dict[str, int],
    when: datetime,
) -> dict[str, Any]:
    """One team's row: what it should be doing, its projects, schedules and work."""
    slug = t["slug"]
    open_work = counts["ready"] + counts["in-progress"]
    desired = desired_team(t, schedules, when, open_work)
    return {
        "slug": slug,
        "name": t.get("name"),
        "business_priority": t.get("business_priority"),
        "desired": desired.to_json(),
        "override": t.get("override"),
        "projects": [
            {"slug": p["slug"], "enabled": p.get("enabled", True), "host": p.get("host")}
            for p in projects
            if p.get("team") == slug
        ],
        "schedules": [
            {
                "slug": s["slug"],
                "policy": s.get("policy"),
                "enabled": s.get("enabled", True),
            }
            for s in schedules
            if s.get("team") == slug
        ],
        "work": counts,
    }


def founder(fleet: ServiceContext, *, at: datetime | None = None) -> dict[str, Any]:
    out = overview(fleet, at=at, audit_tail=50)
    out["placements"] = fleet.registry.placements()
    out["overrides"] = fleet.registry.overrides()
    out["agents"] = fleet.registry.rows("agent")
    return out
