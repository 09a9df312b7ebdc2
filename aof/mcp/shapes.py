"""The structured results of the MCP tools (each a TypedDict, so every tool publishes an
``outputSchema`` and returns ``structured_content``). Kept small on purpose: the agent
profile's whole tool list must stay under 4,000 tokens of schema (docs/mcp.md), so their
fields carry no ``title`` (it only repeated the field's name, capitalised)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12


def _untitled(schema: dict[str, Any]) -> None:
    for field in schema.get("properties", {}).values():
        field.pop("title", None)


UNTITLED = ConfigDict(json_schema_extra=_untitled)


@with_config(UNTITLED)
class TaskRow(TypedDict):
    id: str
    title: str
    state: str
    priority: str
    team: str | None
    project: str | None
    holder: str | None


@with_config(UNTITLED)
class TaskRef(TypedDict):
    id: str
    title: str
    state: str
    path: str


@with_config(UNTITLED)
class TaskView(TypedDict):
    id: str
    title: str
    state: str
    path: str
    meta: dict[str, Any]
    body: str


@with_config(UNTITLED)
class Next(TypedDict):
    task: TaskRow | None
    reason: str


@with_config(UNTITLED)
class Claimed(TypedDict):
    task: TaskRow
    token: str
    expires: str


@with_config(UNTITLED)
class Beat(TypedDict):
    id: str
    expires: str


@with_config(UNTITLED)
class Board(TypedDict):
    counts: dict[str, int]
    columns: dict[str, list[TaskRow]]


@with_config(UNTITLED)
class Items(TypedDict):
    items: list[dict[str, Any]]


@with_config(UNTITLED)
class Record(TypedDict):
    kind: str
    slug: str
    path: str
    fields: dict[str, Any]


@with_config(UNTITLED)
class Data(TypedDict):
    data: dict[str, Any]


@with_config(UNTITLED)
class Found(TypedDict):
    total: int
    results: list[dict[str, Any]]


@with_config(UNTITLED)
class KnowledgeRef(TypedDict):
    type: str
    id: str
    path: str


@with_config(UNTITLED)
class Why(TypedDict):
    task: str
    why: str


def row(r: dict[str, Any]) -> TaskRow:
    """A task summary (``Fleet.list_tasks`` row or ``task_json``) as a :class:`TaskRow`."""
    holder = r.get("holder")
    if holder is None and isinstance(r.get("lease"), dict):
        holder = r["lease"].get("holder")
    return TaskRow(
        id=str(r["id"]),
        title=str(r["title"]),
        state=str(r["state"]),
        priority=str(r.get("priority") or "normal"),
        team=r.get("team"),
        project=r.get("project"),
        holder=holder,
    )
