"""A snapshot: everything the planner reads, as plain JSON-able data.

Built from the files (task summaries from the listing cache, every task id's state from the
directory names, the registry from its cache, lease expiries pushed on by heartbeats) and from
the machine (coders whose program is not installed: looked up on PATH here, never by the
planner), so a tick's input can be recorded and replayed: ``plan(snapshot, now, config)``
never touches the disk.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..clock import format_time
from ..coders import resolve as coders
from ..model.task import STATES, TERMINAL
from ..store import costs, pauses
from ..store.context import FleetContext

if TYPE_CHECKING:
    from ..registry.entries import Registry


class SnapshotSource(FleetContext, Protocol):
    """What a snapshot is built from: a fleet's stores, its registry, and lease expiries as
    heartbeats push them on (:class:`aof.service.pipeline.Pipeline` is one)."""

    @property
    def registry(self) -> Registry: ...

    def expiry_of(self, task_id: str, fence: Any, expires: str) -> Any: ...


def build(fleet: SnapshotSource) -> dict[str, Any]:
    open_states = [s for s in STATES if s not in TERMINAL]
    rows = []
    beats: dict[str, str] = {}
    reg = fleet.registry
    keep = ("team", "enabled", "host", "coder", "budget")
    projects = {r["slug"]: {k: r.get(k) for k in keep} for r in reg.rows("project")}
    # The listing's rows, in directory order (the planner orders what it reads). They are its
    # cache's own: shared, never changed in place (a row that needs a change is copied).
    for row in fleet.tasks.summaries(open_states)[0]:
        if not row.get("team") and row.get("project") in projects:
            # A task of a project without a team of its own is the project's team's work:
            # that team's schedule and limits govern it.
            row = {**row, "team": projects[row["project"]].get("team")}
        held = row["state"] in ("in-progress", "review")  # a gate's work holds a task in review
        if held and row.get("holder") and row.get("expires"):
            expiry = format_time(fleet.expiry_of(row["id"], row.get("fence"), row["expires"]))
            if expiry != row["expires"]:
                beats[row["id"]] = expiry
        rows.append(row)
    agents = {
        r["slug"]: {
            k: r.get(k)
            for k in ("team", "roles", "capabilities", "coder", "concurrency", "projects")
        }
        for r in reg.rows("agent")
    }
    teams = {
        r["slug"]: {k: r.get(k) for k in ("business_priority", "max_concurrent", "override")}
        for r in reg.rows("team")
    }
    for r in reg.rows("team"):
        if r.get("budget"):
            teams[r["slug"]]["budget"] = r["budget"]
    return {
        "tasks": rows,
        # The state of every open task and of every task one depends on: enough for the
        # planner, and its cost follows the open work, not the finished tasks.
        "states": _states(fleet, rows),
        "teams": teams,
        "schedules": reg.rows("schedule"),
        "projects": projects,
        "hosts": {
            r["slug"]: {"capacity_slots": r.get("capacity_slots", 1), "status": r.get("status")}
            for r in reg.rows("host")
        },
        "agents": agents,
        # Lease expiries pushed on by heartbeats (``.aof/heartbeats/``, not in git): recorded
        # with each daemon tick's commit so the tick can be replayed from history.
        "heartbeats": beats,
        # Coders paused by a usage limit until their reset (``.aof/coder-pauses.json``, not
        # in git either: recorded with the tick's commit like the heartbeats).
        "coder_pauses": pauses.active(fleet.root, fleet.clock.now()),
        # Coders in use whose program is not installed on this machine (recorded with the
        # tick's commit too: trailer ``Plan-Coders-Missing``).
        "coders_missing": _coders_missing(fleet, rows, projects, agents),
        # What teams and projects with a monthly budget spent this month (the cost ledger,
        # ``costs/YYYY-MM.jsonl``: in git, so a replay reads it again).
        "spend": spend(fleet.root, fleet.clock.now(), teams, projects),
    }


def spend(
    root: Path, at: datetime, teams: dict[str, Any], projects: dict[str, Any]
) -> dict[str, Any]:
    """USD spent in ``at``'s month by each team and project that has a budget (nothing is
    read when none has one)."""
    if not any(t.get("budget") for t in (*teams.values(), *projects.values())):
        return {}
    month = at.strftime("%Y-%m")
    totals = costs.totals(root, month)
    return {
        "month": month,
        "team": {k: round(v, 6) for k, v in sorted(totals["team"].items()) if k in teams},
        "project": {k: round(v, 6) for k, v in sorted(totals["project"].items()) if k in projects},
    }


def _coders_missing(
    fleet: SnapshotSource,
    rows: list[dict[str, Any]],
    projects: dict[str, dict[str, Any]],
    agents: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """Coder -> program, for every coder a ready task could resolve to whose program is not
    on PATH (nothing is looked up when no task is ready)."""
    ready = [r for r in rows if r["state"] in ("ready", "review")]
    if not ready:
        return {}
    config = fleet.config.data
    named = [
        (config.get("defaults") or {}).get("coder"),
        *(r.get("coder") for r in ready),
        *(p.get("coder") for p in projects.values()),
        *(a.get("coder") for a in agents.values()),
    ]
    return coders.missing((str(c) for c in named if c), config)


def _states(fleet: SnapshotSource, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Id -> state of the open tasks and their dependencies (in no order: the planner reads
    it by id)."""
    states = {r["id"]: r["state"] for r in rows}
    wanted = {d for r in rows if r.get("depends_on") for d in r["depends_on"]} - states.keys()
    states.update((tid, str(s)) for tid, s in fleet.tasks.states_of(sorted(wanted)).items())
    return states
