"""The reads of a fleet root: task listings, the board, one task's JSON.

Plain functions over the task store; :class:`aof.service.pipeline.Pipeline` (and through it
:class:`aof.Fleet`) offers them as methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ValidationError
from ..files import cardfile
from ..model.task import PRIORITY_RANK, STATES, TERMINAL, State, Task
from ..store.tasks import TaskStore

if TYPE_CHECKING:
    from ..model.shapes import TaskJson


class Query(NamedTuple):
    """The filters of a task listing (each None or empty: any)."""

    team: str | None = None
    project: str | None = None
    priority: str | None = None
    labels: tuple[str, ...] = ()
    holder: str | None = None
    text: str | None = None

    def any(self) -> bool:
        return any(self)


def list_tasks(
    tasks: TaskStore,
    states: Iterable[State | str] | None,
    query: Query,
    problems: list[str] | None,
    invalid: bool,
) -> list[dict[str, Any]]:
    """Summaries of the tasks in ``states`` (default: all) that match ``query``, most urgent
    first (see :meth:`aof.Fleet.list_tasks`)."""
    wanted = [State(s) for s in states] if states else list(STATES)
    broken: list[dict[str, Any]] | None = [] if invalid and not query.any() else None
    rows, bad = tasks.summaries(wanted, broken)
    if problems is not None:
        problems.extend(bad)
    out = broken or []
    out.extend((row for row in rows if _matches(tasks, row, query)) if query.any() else rows)
    order = {s.value: i for i, s in enumerate(STATES)}
    out.sort(
        key=lambda r: (
            order[r["state"]],
            PRIORITY_RANK.get(r["priority"], 9),
            str(r["created"]),
            str(r["id"]),
        )
    )
    return out


def _matches(tasks: TaskStore, row: dict[str, Any], query: Query) -> bool:
    team, project, priority, labels, holder, text = query
    if (team and row["team"] != team) or (project and row["project"] != project):
        return False
    if priority and row["priority"] != priority:
        return False
    if labels and not set(labels) <= set(row["labels"]):
        return False
    if holder and row["holder"] != holder:
        return False
    needle = text.lower() if text else None
    if needle and needle not in str(row["title"]).lower():
        try:
            body = cardfile.read_body(tasks.root / row["path"])
        except (OSError, ValidationError):
            return False
        if needle not in body.lower():
            return False
    return True


def board(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts per state and a column per open state of listing ``rows``."""
    counts = {s.value: 0 for s in STATES}
    columns: dict[str, list[dict[str, Any]]] = {s.value: [] for s in STATES if s not in TERMINAL}
    for r in rows:
        counts[r["state"]] += 1
        if r["state"] in columns:
            columns[r["state"]].append(r)
    return {"counts": counts, "columns": columns}


def task_json(task: Task, path: str, *, body: bool = True) -> TaskJson:
    """The stable JSON shape of one task (docs/cli.md, "JSON shapes"); ``path`` is its file
    relative to the root."""
    meta = task.meta
    out: TaskJson = {
        "id": task.id,
        "title": task.title,
        "state": task.state.value,
        "priority": task.priority,
        "team": meta.get("team"),
        "project": meta.get("project"),
        "labels": list(meta.get("labels") or []),
        "depends_on": task.depends_on,
        "parent": meta.get("parent"),
        "created": meta.get("created"),
        "updated": meta.get("updated"),
        "created_by": meta.get("created_by"),
        "attempts": meta.get("attempts", 0),
        "max_attempts": meta.get("max_attempts"),
        "lease": task.lease,
        "last_error": meta.get("last_error"),
        "blocked": meta.get("blocked"),
        "path": path,
        "rev": task.rev,
        "meta": meta,
    }
    if body:
        out["body"] = task.body
    return out
