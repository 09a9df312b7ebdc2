"""Dispatch: claim a task, build its run and hand it to an executor; a failed start is
settled at once.

The one way a run starts, whoever starts it: the daemon's dispatch (for the plan's
``dispatch`` actions) and ``aof agent spawn|fanout|multi|prompt`` (at once, without waiting
for the daemon). The claim's own errors propagate untouched (nothing was taken, so there is
nothing to undo; each caller says what a refused claim means to it). Once the task is
claimed, any failure to start the coder (its coder or model cannot be resolved, the run
cannot be built, the executor cannot start it: :class:`OSError` or :class:`AofError`) is
settled as a ``start-failed`` attempt (retried after back-off, like any failed attempt), so
no task is left claimed without a run; a dispatcher killed between the claim and the start
leaves an intent that the daemon recovers from (:mod:`aof.runner.intents`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AofError
from . import launch
from .executor import Executor, RunSpec, RunStatus

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..model.task import Task


@dataclass
class Dispatched:
    """A claimed task's start: its run, or why the coder did not start."""

    task: Task
    holder: str
    coder: str | None
    model: str | None = None
    spec: RunSpec | None = None
    status: RunStatus | None = None
    error: str | None = None  # the coder did not start; the attempt was settled start-failed
    unrecorded: str | None = None  # ... and that settlement failed too (why)

    @property
    def started(self) -> bool:
        return self.error is None


def dispatch(
    fleet: Fleet,
    executor: Executor,
    task_id: str,
    holder: str,
    *,
    projects: Mapping[str, dict[str, Any]],
    coder: str | None = None,
    agent: str | None = None,
    quick: bool = False,
    session_id: str | None = None,
    tmux: bool | None = None,
) -> Dispatched:
    """Claim ``task_id`` for ``holder`` and submit its run to ``executor``.

    ``coder``: the coder the plan chose (None: resolved from the task, the ``agent``
    profile, its project in ``projects`` (by slug) and the fleet default); ``quick``,
    ``session_id`` and ``tmux`` are the run's (:func:`aof.runner.launch.run_spec`). The
    claim's errors propagate; a failed start is returned (``error``), already settled. An
    intent file covers the time between the claim and the start (:mod:`.intents`)."""
    from . import intents

    intent = intents.declare(fleet, task_id, holder)
    try:
        return _claim_and_start(
            fleet, executor, task_id, holder, projects=projects, coder=coder, agent=agent,
            quick=quick, session_id=session_id, tmux=tmux,
        )  # fmt: skip
    finally:
        intents.clear(intent)


def _claim_and_start(
    fleet: Fleet,
    executor: Executor,
    task_id: str,
    holder: str,
    *,
    projects: Mapping[str, dict[str, Any]],
    coder: str | None,
    agent: str | None,
    quick: bool,
    session_id: str | None,
    tmux: bool | None,
) -> Dispatched:
    task = fleet.claim(task_id, holder)
    token = str((task.lease or {})["token"])
    project = projects.get(str(task.meta.get("project")))
    done = Dispatched(task, holder, coder)
    try:
        resolved, done.model = launch.coder_and_model(fleet, task, agent, project)
        done.coder = coder or resolved
        done.spec = launch.run_spec(
            fleet,
            task,
            coder=done.coder,
            holder=holder,
            model=done.model,
            project=project,
            quick=quick,
            session_id=session_id,
            tmux=tmux,
        )
        done.status = executor.submit(done.spec)
    except (OSError, AofError) as exc:
        done.error = f"could not start coder {done.coder or '(none)'}: {exc}"
        try:
            fleet.settle_run(task.id, token, outcome="start-failed", reason=done.error)
        except AofError as again:
            done.unrecorded = str(again)
    return done
