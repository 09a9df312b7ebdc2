"""The board's data: the open states' cards in full, the terminal states as counts.

A board of ten thousand tasks is mostly done work. Only the open states' summaries are read
(from the store's summary cache); ``done`` and ``cancelled`` are counted from their
directory's listing when no filter is given, so the cost of a page follows the open work,
not the history. The JSON is ``aof board --json``'s shape (docs/json.md), with ``by`` the
swimlane shape; the page adds each card's cost so far (:mod:`.costdata`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...fleet import Fleet
from ...model.shapes import lanes
from ...model.task import STATES, TERMINAL

OPEN = tuple(s for s in STATES if s not in TERMINAL)
LANES = ("team", "project")
PRIORITIES = ("critical", "high", "normal", "low")


@dataclass(frozen=True)
class Filters:
    """What the board shows: swimlanes ``by`` team or project, and the filters on the cards."""

    by: str | None = None
    team: str | None = None
    project: str | None = None
    priority: str | None = None
    q: str | None = None

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From a query string's parameters; unknown values are left out, never an error."""

        def get(name: str) -> str | None:
            value = str(params.get(name) or "").strip()
            return value[:200] or None

        by = get("by")
        priority = get("priority")
        return cls(
            by=by if by in LANES else None,
            team=get("team"),
            project=get("project"),
            priority=priority if priority in PRIORITIES else None,
            q=get("q"),
        )

    @property
    def active(self) -> bool:
        return any((self.team, self.project, self.priority, self.q))

    def query(self, **change: str | None) -> dict[str, str]:
        """The filters as query parameters (``change`` overriding some), for links."""
        values = {
            "by": self.by,
            "team": self.team,
            "project": self.project,
            "priority": self.priority,
            "q": self.q,
        }
        values.update(change)
        return {k: v for k, v in values.items() if v}


def _terminal_counts(fleet: Fleet, f: Filters) -> dict[str, int]:
    states = [s for s in STATES if s in TERMINAL]
    if f.active:  # a filter needs the fields: the summaries (cached) of the terminal states
        rows = fleet.list_tasks(
            states=states, team=f.team, project=f.project, priority=f.priority, text=f.q
        )
        return {s.value: sum(1 for r in rows if r["state"] == s.value) for s in states}
    return {s.value: fleet.tasks.count(s) for s in states}  # the id caches: a stat a shard


def board(fleet: Fleet, f: Filters) -> dict[str, Any]:
    """``{"counts": {state: n}, "columns": {open state: [rows]}}`` after the filters, or with
    ``f.by`` ``{"counts", "by", "lanes": {lane: {state: [rows]}}}``. Files that are not valid
    tasks are rows of their column when no filter is given (as ``aof board``)."""
    rows = fleet.list_tasks(
        states=OPEN,
        team=f.team,
        project=f.project,
        priority=f.priority,
        text=f.q,
        invalid=not f.active,
    )
    columns: dict[str, list[dict[str, Any]]] = {s.value: [] for s in OPEN}
    for r in rows:
        columns[r["state"]].append(r)
    terminal = _terminal_counts(fleet, f)
    counts = {s.value: len(columns[s.value]) if s in OPEN else terminal[s.value] for s in STATES}
    if f.by:
        return {"counts": counts, "by": f.by, "lanes": lanes(columns, f.by)}
    return {"counts": counts, "columns": columns}


def choices(fleet: Fleet) -> dict[str, list[str]]:
    """The teams and projects a filter may name (from the registry)."""
    return {
        "teams": sorted(str(r["slug"]) for r in fleet.registry.rows("team")),
        "projects": sorted(str(r["slug"]) for r in fleet.registry.rows("project")),
    }


SHOWN_MAX = 200  # cards of a terminal state shown on its own


def page_data(fleet: Fleet, f: Filters, show: str | None = None) -> dict[str, Any]:
    """The board page: the board, each open card's cost so far, the filters' choices, and
    with ``show`` (done or cancelled) that state's most recently updated cards."""
    from .costdata import spent_of, usd

    data = board(fleet, f)
    groups = data["lanes"].values() if f.by else [data["columns"]]
    cards = [r for columns in groups for items in columns.values() for r in items]
    shown = None
    if show in {s.value for s in TERMINAL}:
        rows = fleet.list_tasks(
            states=[show], team=f.team, project=f.project, priority=f.priority, text=f.q
        )
        rows.sort(key=lambda r: str(r.get("updated") or r.get("created") or ""), reverse=True)
        shown = {"state": show, "rows": rows[:SHOWN_MAX]}
        cards += shown["rows"]
    cost = {tid: usd(s) for tid, s in spent_of(fleet, cards).items()}
    return {"data": data, "cost": cost, "choices": choices(fleet), "shown": shown}
