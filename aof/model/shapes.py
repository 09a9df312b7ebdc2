"""The JSON shapes the service and the planner hand each other and the front ends.

Typed views of plain dicts (``TypedDict``: at run time they are the dicts the JSON is made
of, so nothing about the output changes). docs/cli.md ("JSON shapes") describes them for
people.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Lease(TypedDict, total=False):
    """A task's lease (``lease:`` in its file). The file keeps the token's hash; the
    claimant's copy of the task (in memory only) holds the ``token`` itself."""

    holder: str
    token_sha256: str
    acquired: str
    expires: str
    token: str


class TaskJson(TypedDict):
    """One task as the front ends show it (``aof task show --json``)."""

    id: str
    title: str
    state: str
    priority: str
    team: Any
    project: Any
    labels: list[Any]
    depends_on: list[str]
    parent: Any
    created: Any
    updated: Any
    created_by: Any
    attempts: Any
    max_attempts: Any
    lease: dict[str, Any] | None
    last_error: Any
    blocked: Any
    path: str
    rev: str
    meta: dict[str, Any]
    body: NotRequired[str]


class TaskRow(TypedDict, total=False):
    """One row of a task listing (:func:`aof.store.summary.summarize`, plus ``state`` and
    ``path``); a file that is not a valid task is a row with ``invalid`` and ``reason``."""

    id: str
    title: str
    state: str
    path: str
    priority: str
    team: str | None
    project: str | None
    labels: list[str]
    depends_on: list[str]
    parent: str | None
    holder: str | None
    fence: Any
    expires: str | None
    acquired: str | None
    created: Any
    updated: Any
    entered: str | None
    due: Any
    attempts: int
    max_attempts: int | None
    rejections: int
    retry_after: str | None
    routing: Any
    sla: Any
    sla_notified: str | None
    coder: str | None
    branch: str | None
    batch: Any
    issue: str | None  # owner/name#N: the issue the task was imported from
    invalid: bool
    reason: str


class PlanAction(TypedDict, total=False):
    """One action of a plan: ``expire`` (with ``to``), ``block``, ``notify`` (an SLA
    breach: ``reason``, the ``state`` and the ``since`` its period began), ``dispatch`` (with
    ``agent`` and ``coder``), and for a task in review ``gate`` (run its command gate
    ``gate``), ``review`` (dispatch the reviewer ``agent`` with ``coder``) or
    ``review_waiting`` (no reviewer can take it: a person is told)."""

    kind: str
    task: str
    gate: str
    to: str
    reason: str
    state: str
    since: str
    agent: str | None
    coder: str | None


class Waiting(TypedDict):
    """A ready task the plan does not dispatch now, and why."""

    task: str
    reason: str


class Plan(TypedDict):
    """The planner's output (:func:`aof.planner.plan.plan`)."""

    at: str
    actions: list[PlanAction]
    waiting: list[Waiting]
    order: list[str]


class ActionsToApply(TypedDict):
    """What :meth:`aof.Fleet.apply` carries out: a plan, or any mapping with its actions."""

    actions: list[PlanAction]


class AppliedAction(PlanAction, total=False):
    """A plan action once applied: ``ok``, and ``error`` when it was not."""

    ok: bool
    error: str


class RunOutcome(TypedDict):
    """How a run ended, as the runner reports it to :meth:`aof.Fleet.settle_run`."""

    outcome: str
    reason: str
    # What the run spent (``tokens``, ``usd``, ``wall_s`` ...): added to the task's ``spent``.
    spent: NotRequired[dict[str, Any] | None]
    # What the run used (``model``, ``models``, ``cost_usd`` reported, ``coder``, ``run``,
    # ``attempt``, ``agent``, ``host``): its row in the cost ledger (aof.service.costs).
    usage: NotRequired[dict[str, Any] | None]
    # A note for the next attempt (a run that ended as its context filled): under ## Hand-off.
    handoff: NotRequired[str | None]


class NextTask(TypedDict):
    """The answer to ``next_task``: the task (None: nothing to do now) and why; with a
    claim, the lease ``token``."""

    task: TaskJson | None
    agent: str | None
    coder: str | None
    token: NotRequired[str | None]
    reason: str


__all__ = [
    "ActionsToApply",
    "AppliedAction",
    "Lease",
    "NextTask",
    "Plan",
    "PlanAction",
    "RunOutcome",
    "TaskJson",
    "TaskRow",
    "Waiting",
]


NO_LANE = "(none)"  # the swimlane of the cards without a team (or project)


def lanes(columns: dict[str, list[dict[str, Any]]], by: str) -> dict[str, dict[str, list[Any]]]:
    """A board's columns (state -> rows) cut into swimlanes by ``by`` (``team`` or
    ``project``): lane -> state -> rows, lanes sorted, the cards without one last (the shape
    of ``aof board --by`` and of the dashboard's board)."""
    out: dict[str, dict[str, list[Any]]] = {}
    for state, items in columns.items():
        for row in items:
            lane = str(row.get(by) or NO_LANE)
            out.setdefault(lane, {s: [] for s in columns})[state].append(row)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == NO_LANE, kv[0])))
