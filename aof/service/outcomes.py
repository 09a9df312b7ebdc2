"""Run outcomes: what the end of one run means for its task, recorded as one change.

The runner (:mod:`aof.runner.shim`) calls :meth:`aof.Fleet.settle_run` when a coder's
process ends (outcome ``exited`` when nothing else was observed). If the agent reported
(complete, block, fail) the task has moved on and only the run's spending is added to
``spent``. If it still holds the run's lease, the runner decides by the outcome it observed:

=============================  ==============================================================
outcome                        what happens to the task
=============================  ==============================================================
``usage-limited``              back to ready, the attempt not counted (the coder is paused)
``context-stopped``            back to ready, not counted: runner.context_stop_pct reached
``context-exhausted``          back to ready, the attempt not counted (a fresh session next)
``interrupted``                back to ready, not counted (SIGTERM from outside: a shutdown)
``exited-without-reporting``   a failed attempt: retry with back-off, or deadletter
``stuck``                      a failed attempt (killed after no output for too long)
``start-failed``               a failed attempt (worktree, setup or program missing)
``over-budget``                blocked, the reason (which budget, how much) recorded
``killed``                     blocked: a person stopped it (``aof agent kill``)
=============================  ==============================================================

A reviewer's run (it holds the lease of a task in review) that ends without a verdict gives
the lease back: ``no-verdict`` (:meth:`aof.service.gates.Gates.release`); one that gave its
verdict is ``reviewed``.

Each settle is one audited change (``run_ended``) with the outcome as its reason. What the
run used (``usage``, from the runner's meter) becomes its row in the cost ledger
(:mod:`aof.service.costs`), committed with that change, or on its own when the task does not
change. A run that ended as its context filled leaves a hand-off note (``handoff``: what it
did) under ``## Hand-off``, which the next attempt's prompt carries; the section keeps the
newest :data:`~aof.model.text.HANDOFF_KEEP` notes of :data:`~aof.model.text.HANDOFF_MAX`
characters at most.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..clock import format_time
from ..errors import InvalidTransition, LeaseError, NotFound
from ..model.shapes import RunOutcome
from ..model.task import State, Task, failed_attempts, lease_matches
from ..model.text import HANDOFF, HANDOFF_KEEP, HANDOFF_MAX, append_capped, append_section
from .costs import Ledger
from .lifecycle import Lifecycle
from .pipeline import Pipeline

NOT_COUNTED = ("usage-limited", "context-stopped", "context-exhausted", "interrupted")
BLOCKING = ("over-budget", "killed")
FAILING = ("exited-without-reporting", "stuck", "start-failed")
REPORTED = {
    State.DONE: "completed",
    State.REVIEW: "completed",
    State.BLOCKED: "asked",
    State.READY: "failed",
    State.DEADLETTER: "failed",
    State.CANCELLED: "cancelled",
    State.BACKLOG: "failed",
}


def add_spent(meta: dict[str, Any], spent: dict[str, Any]) -> None:
    total = dict(meta.get("spent") or {})
    for key, value in spent.items():
        if not value:
            continue
        if key == "tokens":
            total[key] = int(total.get(key, 0)) + int(value)
        else:
            total[key] = round(float(total.get(key, 0)) + float(value), 4)
    if total:
        meta["spent"] = total


class Outcomes:
    """What the end of a run means for its task (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline, lifecycle: Lifecycle) -> None:
        self.pipeline = pipeline
        self.lifecycle = lifecycle  # its back-off schedules the retry of a failed run
        self.gates = lifecycle.gates  # a reviewer's run that ends gives its gate back
        self.ledger = Ledger(pipeline)

    def settle_run(self, ref: str, token: str, run: RunOutcome) -> tuple[Task, str]:
        """Record the end of the run that held ``token``; (task, final outcome)."""
        outcome, reason = run["outcome"], run["reason"]
        spent = {k: v for k, v in (run.get("spent") or {}).items() if v}
        usage = run.get("usage")
        task = self.pipeline.tasks.load(ref)
        if task.state == State.REVIEW and lease_matches(task.lease, token):
            row = self._cost(task, usage, "no-verdict")
            settled = self._settle_gate(task, token, outcome, reason, spent)
            self._commit_cost(task.id, row)
            return settled
        held = task.state == State.IN_PROGRESS and lease_matches(task.lease, token)
        if outcome == "exited" and held:  # the coder ended and the agent never reported
            outcome, reason = "exited-without-reporting", f"{reason} without reporting"
        if held and outcome in (*NOT_COUNTED, *BLOCKING, *FAILING):
            try:
                row = self._cost(task, usage, outcome)
                handoff = run.get("handoff") if outcome in NOT_COUNTED else None
                done = self._settle_held(task.id, token, outcome, reason, spent, row, handoff)
                return done, outcome
            except (LeaseError, InvalidTransition, NotFound):
                task = self.pipeline.tasks.load(ref)  # it moved on meanwhile: only account
        final = REPORTED.get(task.state, "lost-lease")
        if task.state == State.IN_PROGRESS:
            final = "reported" if held else "lost-lease"
        if outcome == "reviewed":  # a reviewer's run that gave its verdict
            final = "reviewed"
        elif final in ("failed", "asked") and _sent_back(task):
            final = "completed"  # the agent completed; a gate sent the work back since

        def account(task: Task, meta: dict[str, Any]) -> None:
            add_spent(meta, spent)

        row = self._cost(task, usage, final)
        if spent:
            task = self.pipeline.change(
                task.id, "run_ended", None, account, reason=f"{final}: {reason}", also=row
            )
        else:
            self._commit_cost(task.id, row)
        return task, final

    def record_cost(self, ref: str, usage: dict[str, Any], outcome: str) -> bool:
        """Only the ledger row of a run that ended without settling its task (it had lost its
        lease); False when the run already has its row."""
        task = self.pipeline.tasks.load(ref)
        row = self._cost(task, usage, outcome)
        self._commit_cost(task.id, row)
        return bool(row)

    def _cost(self, task: Task, usage: dict[str, Any] | None, outcome: str) -> list[Path]:
        """The run's ledger row, appended: the file to commit (none without ``usage``, or
        when the run already has its row)."""
        if not usage:
            return []
        path = self.ledger.record(task.id, task.meta, usage, outcome)
        return [path] if path is not None else []

    def _commit_cost(self, task_id: str, row: list[Path]) -> None:
        if row:
            who = self.pipeline.actor
            self.pipeline.git.commit(row, f"costs: a run of task {task_id} ({who})", who)

    def _settle_gate(
        self, task: Task, token: str, outcome: str, reason: str, spent: dict[str, Any]
    ) -> tuple[Task, str]:
        """A reviewer's run ended still holding the task's lease: no verdict was given. The
        lease goes back (:meth:`Gates.release`: the review is handed out again, and a person
        decides after a few such runs); what it spent is added to the task's."""
        holder = (task.lease or {}).get("holder")
        why = f"reviewer {holder} ended without a verdict ({outcome}: {reason})"
        try:
            task = self.gates.release(task.id, token, reason=why, spent=spent)
        except (LeaseError, InvalidTransition, NotFound):
            task = self.pipeline.tasks.load(task.id)  # it moved on meanwhile
        return task, "no-verdict"

    def _settle_held(
        self,
        task_id: str,
        token: str,
        outcome: str,
        reason: str,
        spent: dict[str, Any],
        row: list[Path],
        handoff: str | None = None,
    ) -> Task:
        limit = None
        task = self.pipeline.tasks.load(task_id)
        if outcome in NOT_COUNTED:
            target = State.READY
        elif outcome in BLOCKING:
            target = State.BLOCKED
        else:
            limit = int(
                task.meta.get("max_attempts") or self.pipeline.config.scheduler["max_attempts"]
            )
            exhausted = failed_attempts(task.meta) >= limit
            target = State.DEADLETTER if exhausted else State.READY

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            meta.pop("lease", None)
            add_spent(meta, spent)
            if outcome in NOT_COUNTED:
                meta["attempts"] = max(int(meta.get("attempts", 1)) - 1, 0)
            elif outcome in BLOCKING:
                meta["blocked"] = {
                    "reason": reason,
                    "by": str(self.pipeline.actor),
                    "at": self.pipeline.now(),
                }
            else:
                meta["last_error"] = reason
                if target == State.READY:
                    attempts = int(meta.get("attempts", 1))
                    meta["retry_after"] = format_time(
                        self.pipeline.clock.now() + self.lifecycle.backoff(attempts)
                    )
            body = append_section(task.body, "Work Log", self.pipeline.note(f"{outcome}: {reason}"))
            if handoff:
                note = self.pipeline.note(handoff)
                body = append_capped(body, HANDOFF, note, limit=HANDOFF_MAX, keep=HANDOFF_KEEP)
            return body

        return self.pipeline.change(
            task_id,
            "run_ended",
            target,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=f"{outcome}: {reason}",
            also=row,
        )

    def flag_stuck(self, ref: str, token: str, *, idle_s: float) -> Task:
        """Note on a running task that its coder has printed nothing for ``idle_s`` seconds
        (audited ``stuck``: the notification; the run goes on until runner.stuck_kill_s)."""
        note = f"stuck: no output from the coder for {idle_s:.0f} s"

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            return append_section(task.body, "Work Log", self.pipeline.note(note))

        return self.pipeline.change(
            ref, "stuck", None, mutate, allowed_from=[State.IN_PROGRESS], reason=note
        )


def _sent_back(task: Task) -> bool:
    """Whether the task's last move was a gate's rejection (back to ready, or blocked at the
    cap), not a failure the agent reported: a failure sets ``retry_after`` (or deadletters),
    a rejection clears it."""
    history = (task.meta.get("gate") or {}).get("history") or []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    if last.get("outcome") != "rejected" or task.meta.get("retry_after"):
        return False
    if task.state == State.BLOCKED:
        return str((task.meta.get("blocked") or {}).get("reason", "")).startswith("rejected")
    return task.state == State.READY
