"""The service's facade: the one door through which every change to a fleet root passes.

``Fleet`` hands each call to the part of the service that holds it: the pipeline and the
reads (:mod:`aof.service.pipeline`), creating and editing tasks (:mod:`aof.service.authoring`),
claims and leases (:mod:`aof.service.leases`), the lifecycle moves, review and blocking
(:mod:`aof.service.lifecycle`), run outcomes (:mod:`aof.service.outcomes`) and the scheduling
front (:mod:`aof.service.scheduling`), each built on first use. Creating a fleet root is
:mod:`aof.service.newroot`. The CLI and the MCP server call its methods and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, cast

from .model.resources import template_dir
from .model.text import append_section
from .service import newroot
from .service.authoring import Authoring
from .service.pipeline import Pipeline

if TYPE_CHECKING:
    from .clock import Clock, IdSource
    from .journal.audit import Actor, AuditLog
    from .journal.git import Committer
    from .knowledge.items import Knowledge
    from .model.config import Config
    from .model.shapes import ActionsToApply, RunOutcome
    from .model.task import State, Task
    from .model.workflow import Workflow
    from .registry.entries import Registry
    from .service.gates import Gates
    from .service.leases import Leases
    from .service.lifecycle import Lifecycle
    from .service.outcomes import Outcomes
    from .service.prgate import PrGate
    from .service.scheduling import Scheduling
    from .store.tasks import TaskStore

JSON = dict[str, Any]


class Fleet:
    """One fleet root. Every change to it goes through a method of this class.

    ``clock`` and ``ids`` are injected so tests and replays are exact; ``actor`` is who the
    changes are attributed to in the audit trail and git; ``commit`` overrides ``git.commit``;
    ``reason`` is the reason of every audit record this object appends (see :meth:`reason`
    for one block of calls), in place of the one each verb computes.
    """

    hook: str | None = None  # the git pre-commit hook `init` installed (path in the root)

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        actor: Actor | str | Callable[[], Actor] = "system:aof",
        commit: bool | None = None,
        reason: str | None = None,
    ) -> None:
        pipeline = Pipeline(root, clock=clock, ids=ids, actor=actor, commit=commit, reason=reason)
        self._pipeline, self._authoring = pipeline, Authoring(pipeline)

    # Built on first use (aof.service.parts); prs: the pr gate's changes (docs/forge.md).
    _leases: Leases
    _gates: Gates
    _lifecycle: Lifecycle
    _outcomes: Outcomes
    _scheduling: Scheduling
    prs: PrGate

    def __getattr__(self, name: str) -> Any:
        from .service.parts import build  # a call imports only the parts it uses

        return build(self, name)

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        example: bool = False,
        hooks: bool = True,
        **kwargs: Any,
    ) -> Fleet:
        """Create a fleet root at ``path`` from the template; RootExists if one is there.

        The root gets aof's JSON schemas in ``schemas/`` for editors (:mod:`aof.ops.rootschemas`)
        and, with ``hooks``, a git pre-commit hook that runs ``aof lint`` on the staged fleet
        files (:mod:`aof.journal.githook`; not replacing a pre-commit hook that is already there).
        ``example`` adds an example team and a (disabled) example project to show the shape
        of registry files.
        """
        new = newroot.write(path, name=name, example=example, reason=kwargs.get("reason"))
        fleet = cls(new.root, **kwargs)
        if hooks:
            from .journal.githook import install

            fleet.hook = install(new.root)
        newroot.record(fleet, new)
        return fleet

    # --- the fleet root's stores (Pipeline) ---------------------------------------------

    @property
    def root(self) -> Path:
        """The fleet root (absolute)."""
        return self._pipeline.root

    @property
    def config(self) -> Config:
        """``aof.yaml``, as loaded (the daemon sets a reloaded one)."""
        return self._pipeline.config

    @config.setter
    def config(self, config: Config) -> None:
        self._pipeline.config = config

    @property
    def clock(self) -> Clock:
        return self._pipeline.clock

    @property
    def ids(self) -> IdSource:
        return self._pipeline.ids

    @property
    def tasks(self) -> TaskStore:
        return self._pipeline.tasks

    @property
    def audit(self) -> AuditLog:
        return self._pipeline.audit

    @property
    def actor(self) -> Actor:
        """Who this fleet object's changes are attributed to."""
        return self._pipeline.actor

    @property
    def git(self) -> Committer:
        """The committer (built on first use: read-only calls never import subprocess)."""
        return self._pipeline.git

    @property
    def registry(self) -> Registry:
        """Teams, projects, hosts, schedules and agents (``aof.registry.entries``)."""
        return self._pipeline.registry

    @property
    def knowledge(self) -> Knowledge:
        """Sources, documents, facts and their search index (``aof.knowledge.items``)."""
        return self._pipeline.knowledge

    @property
    def override_lease(self) -> bool:
        """Act on tasks others hold, without their token, with a reason (:meth:`overriding`)."""
        return self._pipeline.override_lease

    @override_lease.setter
    def override_lease(self, value: bool) -> None:
        self._pipeline.override_lease = value

    @contextmanager
    def reason(self, text: str | None) -> Iterator[None]:
        """Give every audit record of a block this reason (:meth:`Pipeline.reason`)."""
        with self._pipeline.reason(text):
            yield

    @contextmanager
    def overriding(self, reason: str) -> Iterator[None]:
        """Override other actors' leases in a block, with a reason (:meth:`Pipeline.overriding`)."""
        with self._pipeline.overriding(reason):
            yield

    # --- reads (Pipeline) ---------------------------------------------------------------

    def get_task(self, ref: str) -> Task:
        """The task ``ref`` names (:meth:`Pipeline.get_task`)."""
        return self._pipeline.get_task(ref)

    def list_tasks(
        self,
        *,
        states: Iterable[State | str] | None = None,
        team: str | None = None,
        project: str | None = None,
        priority: str | None = None,
        labels: Sequence[str] = (),
        holder: str | None = None,
        text: str | None = None,
        problems: list[str] | None = None,
        invalid: bool = False,
    ) -> list[dict[str, Any]]:
        """Summaries of matching tasks, most urgent first (:meth:`Pipeline.list_tasks`)."""
        return self._pipeline.list_tasks(
            states=states,
            team=team,
            project=project,
            priority=priority,
            labels=labels,
            holder=holder,
            text=text,
            problems=problems,
            invalid=invalid,
        )

    def board(
        self, *, team: str | None = None, problems: list[str] | None = None, invalid: bool = True
    ) -> dict[str, Any]:
        """Counts per state and the open states' columns (:meth:`Pipeline.board`)."""
        return self._pipeline.board(team=team, problems=problems, invalid=invalid)

    def task_json(self, task: Task, *, body: bool = True) -> dict[str, Any]:
        """The stable JSON shape of one task (:meth:`Pipeline.task_json`)."""
        return cast(JSON, self._pipeline.task_json(task, body=body))

    def pending_dependencies(self, task: Task) -> list[tuple[str, str]]:
        """Dependencies not done yet (:meth:`Pipeline.pending_dependencies`)."""
        return self._pipeline.pending_dependencies(task)

    def lease_expiry(self, task: Task) -> Any:
        """When the task's lease runs out (:meth:`Pipeline.lease_expiry`)."""
        return self._pipeline.lease_expiry(task)

    def expiry_of(self, task_id: str, fence: Any, expires: str) -> Any:
        """A lease's expiry, pushed on by heartbeats (:meth:`Pipeline.expiry_of`)."""
        return self._pipeline.expiry_of(task_id, fence, expires)

    # --- creating and editing (Authoring) -----------------------------------------------

    def create_task(
        self,
        title: str,
        *,
        priority: str | None = None,
        team: str | None = None,
        project: str | None = None,
        depends_on: Sequence[str] = (),
        labels: Sequence[str] = (),
        parent: str | None = None,
        body: str | None = None,
        ready: bool = False,
        fields: dict[str, Any] | None = None,
        sla: Sequence[str] = (),
    ) -> Task:
        """Create a task in backlog or ready (:meth:`Authoring.create_task`)."""
        return self._authoring.create_task(
            title,
            priority=priority,
            team=team,
            project=project,
            depends_on=depends_on,
            labels=labels,
            parent=parent,
            body=body,
            ready=ready,
            fields=fields,
            sla=sla,
        )

    def adopt(self, path: Path, *, actor: Actor | None = None) -> Task:
        """Adopt a hand-written task (:meth:`Authoring.adopt`)."""
        return self._authoring.adopt(path, actor=actor)

    def edit_task(
        self,
        ref: str,
        *,
        title: str | None = None,
        priority: str | None = None,
        set_fields: dict[str, Any] | None = None,
        unset: Sequence[str] = (),
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        add_deps: Sequence[str] = (),
        remove_deps: Sequence[str] = (),
        body: str | None = None,
        token: str | None = None,
        expect_rev: str | None = None,
        sla: Sequence[str] = (),
    ) -> Task:
        """Change fields and/or the body of a task (:meth:`Authoring.edit_task`)."""
        return self._authoring.edit_task(
            ref,
            title=title,
            priority=priority,
            set_fields=set_fields,
            unset=unset,
            add_labels=add_labels,
            remove_labels=remove_labels,
            add_deps=add_deps,
            remove_deps=remove_deps,
            body=body,
            token=token,
            expect_rev=expect_rev,
            sla=sla,
        )

    # --- claims and leases (Leases) -----------------------------------------------------

    def claim(self, ref: str, agent: str, *, ttl_s: float | None = None) -> Task:
        """Claim a ready task for ``agent`` (:meth:`Leases.claim`)."""
        return self._leases.claim(ref, agent, ttl_s=ttl_s)

    def heartbeat(self, ref: str, token: str) -> dict[str, Any]:
        """Renew the lease's liveness (:meth:`Leases.heartbeat`)."""
        return self._leases.heartbeat(ref, token)

    def release(self, ref: str, *, token: str | None = None, reason: str | None = None) -> Task:
        """Give an in-progress task back to ready (:meth:`Leases.release`)."""
        return self._leases.release(ref, token=token, reason=reason)

    def progress(self, ref: str, *, note: str, token: str | None = None) -> Task:
        """Append to the task's Work Log; a heartbeat too (:meth:`Leases.progress`)."""
        return self._leases.progress(ref, note=note, token=token)

    # --- the lifecycle (Lifecycle) ------------------------------------------------------

    def promote(self, ref: str, *, reason: str | None = None) -> Task:
        """Backlog to ready (:meth:`Lifecycle.promote`)."""
        return self._lifecycle.promote(ref, reason=reason)

    def demote(self, ref: str, *, reason: str | None = None) -> Task:
        """Ready to backlog (:meth:`Lifecycle.demote`)."""
        return self._lifecycle.demote(ref, reason=reason)

    def complete(
        self, ref: str, *, token: str | None, summary: str, outputs: Sequence[str] = ()
    ) -> Task:
        """Report an in-progress task done (:meth:`Lifecycle.complete`)."""
        return self._lifecycle.complete(ref, token=token, summary=summary, outputs=outputs)

    # --- gates (Gates) -------------------------------------------------------------------

    def workflow_of(self, task: Task) -> Workflow | None:
        """The task's workflow, parsed (:meth:`Gates.workflow_of`)."""
        return self._gates.workflow_of(task)

    def max_rejections(self, task: Task) -> int:
        """Rejections before a person decides (:meth:`Gates.max_rejections`)."""
        return self._gates.max_rejections(task)

    def approve(self, ref: str, *, note: str | None = None, token: str | None = None) -> Task:
        """Pass the current review gate (:meth:`Gates.approve`)."""
        return self._gates.approve(ref, note=note, token=token)

    def reject(self, ref: str, *, feedback: str, token: str | None = None) -> Task:
        """Send the work under review back (:meth:`Gates.reject`)."""
        return self._gates.reject(ref, feedback=feedback, token=token)

    def claim_gate(self, ref: str, holder: str, gate: str) -> Task:
        """Take a task in review for its gate's work (:meth:`Gates.claim`)."""
        return self._gates.claim(ref, holder, gate)

    def release_gate(self, ref: str, token: str, *, reason: str, count: bool = True) -> Task:
        """A gate's work ended without a result (:meth:`Gates.release`)."""
        return self._gates.release(ref, token, reason=reason, count=count)

    def record_gate(self, ref: str, token: str, result: dict[str, Any]) -> Task:
        """The result of a command gate aof ran (:meth:`Gates.record_command`)."""
        return self._gates.record_command(ref, token, result)

    def branch_head(self, task: Task) -> str | None:
        """The head commit of the task's branch in its project (:meth:`Gates.head_of`)."""
        return self._gates.head_of(task)

    def block(self, ref: str, *, question: str, token: str | None = None) -> Task:
        """Block an in-progress task on a question (:meth:`Lifecycle.block`)."""
        return self._lifecycle.block(ref, question=question, token=token)

    def answer(self, ref: str, *, text: str) -> Task:
        """Answer a blocked task's question (:meth:`Lifecycle.answer`)."""
        return self._lifecycle.answer(ref, text=text)

    def unblock(self, ref: str, *, reason: str | None = None) -> Task:
        """Blocked to ready without an answer (:meth:`Lifecycle.unblock`)."""
        return self._lifecycle.unblock(ref, reason=reason)

    def fail(
        self, ref: str, *, error: str, token: str | None = None, permanent: bool = False
    ) -> Task:
        """Record a failed attempt (:meth:`Lifecycle.fail`)."""
        return self._lifecycle.fail(ref, error=error, token=token, permanent=permanent)

    def backoff(self, attempts: int) -> timedelta:
        """The wait before the next attempt (:meth:`Lifecycle.backoff`)."""
        return self._lifecycle.backoff(attempts)

    def cancel(self, ref: str, *, reason: str) -> Task:
        """Cancel a task that is not done (:meth:`Lifecycle.cancel`)."""
        return self._lifecycle.cancel(ref, reason=reason)

    def resurrect(self, ref: str, *, reason: str | None = None) -> Task:
        """Deadletter back to ready (:meth:`Lifecycle.resurrect`)."""
        return self._lifecycle.resurrect(ref, reason=reason)

    def move(self, ref: str, state: State | str, *, reason: str | None = None) -> Task:
        """Operator move along the lifecycle table (:meth:`Lifecycle.move`)."""
        return self._lifecycle.move(ref, state, reason=reason)

    # --- run outcomes (Outcomes) --------------------------------------------------------

    def settle_run(self, ref: str, token: str, **run: Unpack[RunOutcome]) -> tuple[Task, str]:
        """Record the end of the run that held ``token``: ``outcome``, ``reason`` and what
        else the runner saw (:class:`~aof.model.shapes.RunOutcome`, :meth:`Outcomes.settle_run`).
        The run's remote API token, if it had one, stops working."""
        task, final = self._outcomes.settle_run(ref, token, run)
        from .store.apitokens import TokenStore

        TokenStore(self.root, clock=self.clock).revoke(kind="run", task=str(task.id))
        return task, final

    def record_cost(self, ref: str, usage: dict[str, Any], *, outcome: str) -> bool:
        """The ledger row of a run that ended without settling (:meth:`Outcomes.record_cost`)."""
        return self._outcomes.record_cost(ref, usage, outcome)

    def flag_stuck(self, ref: str, token: str, *, idle_s: float) -> Task:
        """Note that a running coder is silent (:meth:`Outcomes.flag_stuck`)."""
        return self._outcomes.flag_stuck(ref, token, idle_s=idle_s)

    # --- scheduling (Scheduling) --------------------------------------------------------

    def open_work(self) -> dict[str, int]:
        """Ready and in-progress tasks per team (:meth:`Scheduling.open_work`)."""
        return self._scheduling.open_work()

    def desired_states(self, at: Any = None, teams: Sequence[str] | None = None) -> dict[str, Any]:
        """What each team should be doing (:meth:`Scheduling.desired_states`)."""
        return self._scheduling.desired_states(at, teams)

    def desired_state(self, team: str, at: Any = None) -> Any:
        """What ``team`` should be doing (:meth:`Scheduling.desired_state`)."""
        return self._scheduling.desired_state(team, at)

    def snapshot(self) -> dict[str, Any]:
        """What the planner reads (:meth:`Scheduling.snapshot`)."""
        return self._scheduling.snapshot()

    def plan(
        self, at: Any = None, snapshot: dict[str, Any] | None = None, *, pull: bool = False
    ) -> dict[str, Any]:
        """The scheduler's plan, not applied (:meth:`Scheduling.plan`)."""
        return cast(JSON, self._scheduling.plan(at, snapshot, pull=pull))

    def replay(self, ref: str) -> dict[str, Any]:
        """Recompute a daemon tick's plan from history (:meth:`Scheduling.replay`)."""
        return self._scheduling.replay(ref)

    def why(self, ref: str, at: Any = None) -> str:
        """Why ``ref`` is (or is not) being worked on (:meth:`Scheduling.why`)."""
        return self._scheduling.why(ref, at)

    def apply(
        self,
        result: dict[str, Any],
        *,
        kinds: Sequence[str] = ("expire", "block", "notify", "review_waiting"),
        actor: Actor | None = None,
    ) -> list[dict[str, Any]]:
        """Carry out a plan's actions of ``kinds`` (:meth:`Scheduling.apply`)."""
        done = self._scheduling.apply(cast("ActionsToApply", result), kinds=kinds, actor=actor)
        return cast(list[JSON], done)

    def next_task(
        self, agent: str | None = None, *, claim: bool = False, at: Any = None
    ) -> dict[str, Any]:
        """The task the plan would hand ``agent`` next (:meth:`Scheduling.next_task`)."""
        return cast(JSON, self._scheduling.next_task(agent, claim=claim, at=at))

    # --- maintenance ------------------------------------------------------------------

    def doctor(self, *, fix: bool = False) -> Any:
        """Check (and with ``fix`` repair) every invariant; see :mod:`aof.ops.doctor`."""
        from .ops.doctor import run

        return run(self, self._pipeline, fix=fix)

    def lint(
        self, paths: Sequence[str] | None = None, warnings: list[str] | None = None
    ) -> list[str]:
        """Validate every file (or the fleet files among ``paths``) against the schemas and
        each other; ``file:line: field: message`` strings. Keys that look like a typo of a
        known one go to ``warnings`` (not problems: unknown keys are kept)."""
        from .ops.lint import run

        return run(self, paths, warnings)


EXAMPLE_DIR = newroot.EXAMPLE_DIR

__all__ = ["Fleet", "append_section", "template_dir"]
