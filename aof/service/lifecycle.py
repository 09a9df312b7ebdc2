"""The task lifecycle's moves (DESIGN 3): promote and demote, completion (into its workflow's
gates: :mod:`aof.service.gates`), blocking and answers, failures and back-off, cancelling,
resurrecting, operator moves. Each is one call into the pipeline. Claims and leases are
:mod:`aof.service.leases`; creating and editing tasks is :mod:`aof.service.authoring`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..clock import format_time
from ..errors import InvalidTransition, ValidationError
from ..model.task import STATES, TERMINAL, State, Task, failed_attempts
from ..model.text import append_section, defused
from .gates import Gates
from .pipeline import Pipeline


class Lifecycle:
    """Move tasks through their lifecycle (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline, gates: Gates) -> None:
        self.pipeline = pipeline
        self.gates = gates  # a completion starts its workflow's first gate

    # --- the lifecycle ------------------------------------------------------------------

    def promote(self, ref: str, *, reason: str | None = None) -> Task:
        """Move a backlog task to ready (the only way out of the parking lot)."""
        return self.pipeline.change(
            ref,
            "promoted",
            State.READY,
            lambda t, m: None,
            allowed_from=[State.BACKLOG],
            reason=reason,
        )

    def demote(self, ref: str, *, reason: str | None = None) -> Task:
        """Park a ready task in backlog again."""
        return self.pipeline.change(
            ref,
            "demoted",
            State.BACKLOG,
            lambda t, m: None,
            allowed_from=[State.READY],
            reason=reason,
        )

    def complete(
        self, ref: str, *, token: str | None, summary: str, outputs: Sequence[str] = ()
    ) -> Task:
        """Report an in-progress task done: to review if its workflow has gates, else done.
        ``outputs`` (files, branches, links the work produced) are listed with the summary."""
        if not summary or not summary.strip():
            raise ValidationError("summary: a completion needs a summary of what was done")
        listed = [str(o).strip() for o in outputs if str(o).strip()]
        if any("\n" in o for o in listed):
            raise ValidationError("outputs: one line each (a path, branch or link)")
        text = defused(summary.strip())
        if listed:
            text += "\n\nOutputs:\n\n" + "\n".join(f"- {o}" for o in listed)
        current = self.pipeline.tasks.load(ref, prefer=(State.IN_PROGRESS,))
        committed = self._committed_credentials(current)
        if committed:
            self._hold_for_secret(current.id, token, committed)
        workflow = self.gates.workflow_of(current)
        first = workflow.gates[0] if workflow else None

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            if workflow is not None:
                self.gates.begin(task, meta, workflow)
            meta.pop("lease", None)
            meta.pop("blocked", None)
            return append_section(
                task.body,
                "Completion Summary",
                f"{text}\n\n_{self.pipeline.now()} {self.pipeline.actor}_",
            )

        return self.pipeline.change(
            ref,
            "completed",
            State.REVIEW if workflow else State.DONE,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=summary.strip().splitlines()[0][:200],
            event="review_waiting" if first is not None and first.kind == "human" else None,
        )

    def _committed_credentials(self, task: Task) -> list[str]:
        """The project's credential files that the task's branch tracks (none: no project,
        no credential files, or no repository of it here)."""
        slug = task.meta.get("project")
        if not isinstance(slug, str) or not self.pipeline.registry.exists("project", slug):
            return []
        project = self.pipeline.registry.get("project", slug).meta
        files = [str(f) for f in project.get("credential_files") or []]
        if not files or not project.get("root_path"):
            return []
        from ..journal.repos import is_repo, tracked_credentials
        from ..model.branches import branch_for

        repo = Path(str(project["root_path"])).expanduser()
        if not is_repo(repo):
            return []
        return tracked_credentials(repo, branch_for(task.id, task.meta), files)

    def _hold_for_secret(self, ref: str, token: str | None, files: list[str]) -> None:
        """Block a task whose branch tracks credential files, for a person; then refuse the
        completion (ValidationError naming the files)."""
        branch = None

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            nonlocal branch
            from ..model.branches import branch_for

            self.pipeline.check_token(task, token, self.pipeline.actor)
            branch = branch_for(task.id, meta)
            meta.pop("lease", None)
            meta["blocked"] = {
                "reason": f"credential file(s) committed on branch {branch}: {', '.join(files)}",
                "by": str(self.pipeline.actor),
                "at": self.pipeline.now(),
            }
            note = (
                f"**Refused** completion: branch {branch} tracks credential file(s) "
                f"{', '.join(files)}. Remove them from the branch's history, then unblock."
            )
            return append_section(task.body, "Questions", self.pipeline.note(note))

        task = self.pipeline.change(
            ref,
            "blocked",
            State.BLOCKED,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=f"credential file(s) committed: {', '.join(files)}",
        )
        raise ValidationError(
            f"task {task.id}: branch {branch} tracks credential file(s) {', '.join(files)}: "
            "a secret is committed; the task is blocked for a person"
        )

    def block(self, ref: str, *, question: str, token: str | None = None) -> Task:
        """Block an in-progress task on a question for a person; the lease is given up."""
        if not question.strip():
            raise ValidationError("question: blocking needs the question to ask")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            if token is None and self.pipeline.actor.kind != "agent":
                # The brake a person may pull on a held task without --force: the work
                # stops (the lease is given up) and waits on the question, which is the
                # override's reason in the audit record, so it is never silent.
                with self.pipeline.overriding(question.strip()):
                    self.pipeline.take_over(task, question.strip())
            else:
                self.pipeline.check_token(task, token, self.pipeline.actor)
            meta.pop("lease", None)
            meta["blocked"] = {
                "reason": "question",
                "question": question.strip(),
                "by": str(self.pipeline.actor),
                "at": self.pipeline.now(),
            }
            return append_section(
                task.body, "Questions", self.pipeline.note(f"**Q** {question.strip()}")
            )

        return self.pipeline.change(
            ref,
            "blocked",
            State.BLOCKED,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=question.strip(),
        )

    def answer(self, ref: str, *, text: str) -> Task:
        """Answer a blocked task's question; the answer joins the body and the task is ready."""
        if not text.strip():
            raise ValidationError("text: the answer is empty")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("blocked", None)
            return append_section(
                task.body, "Questions", self.pipeline.note(f"**A** {text.strip()}")
            )

        return self.pipeline.change(
            ref, "answered", State.READY, mutate, allowed_from=[State.BLOCKED], reason=text.strip()
        )

    def unblock(self, ref: str, *, reason: str | None = None) -> Task:
        """Return a blocked task to ready without an answer."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("blocked", None)
            return None

        return self.pipeline.change(
            ref, "unblocked", State.READY, mutate, allowed_from=[State.BLOCKED], reason=reason
        )

    def fail(
        self, ref: str, *, error: str, token: str | None = None, permanent: bool = False
    ) -> Task:
        """Record a failed attempt: back to ready, or deadletter once attempts are exhausted."""
        task = self.pipeline.tasks.load(ref, prefer=(State.IN_PROGRESS,))
        limit = task.meta.get("max_attempts") or self.pipeline.config.scheduler["max_attempts"]
        attempts = int(task.meta.get("attempts", 0))
        exhausted = permanent or failed_attempts(task.meta) >= int(limit)
        target = State.DEADLETTER if exhausted else State.READY

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            meta.pop("lease", None)
            meta["last_error"] = error.strip()
            if not exhausted:
                meta["retry_after"] = format_time(
                    self.pipeline.clock.now() + self.backoff(attempts)
                )
            return append_section(
                task.body, "Work Log", self.pipeline.note(f"failed: {error.strip()}")
            )

        return self.pipeline.change(
            ref,
            "deadlettered" if exhausted else "failed",
            target,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=error.strip(),
        )

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait before attempt ``attempts + 1``: exponential, capped, with jitter
        drawn from the injected random source (so replays and tests are exact)."""
        cfg = self.pipeline.config.scheduler.get("backoff") or {}
        base, factor = float(cfg.get("base_s", 60)), float(cfg.get("factor", 2.0))
        delay = min(base * factor ** max(attempts - 1, 0), float(cfg.get("max_s", 3600)))
        jitter = float(cfg.get("jitter", 0.25))
        return timedelta(seconds=round(delay * (1 + jitter * (2 * self.pipeline.ids.random() - 1))))

    def cancel(self, ref: str, *, reason: str) -> Task:
        """Cancel a task that is not done; the reason is kept in its body."""
        if not reason.strip():
            raise ValidationError("reason: cancelling needs a reason")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.take_over(task, reason.strip())
            meta.pop("lease", None)
            return append_section(task.body, "Cancelled", self.pipeline.note(reason.strip()))

        return self.pipeline.change(
            ref,
            "cancelled",
            State.CANCELLED,
            mutate,
            allowed_from=[s for s in STATES if s not in TERMINAL],
            reason=reason,
        )

    def resurrect(self, ref: str, *, reason: str | None = None) -> Task:
        """Bring a deadlettered task back to ready with its attempts reset (cause kept)."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta["attempts"] = 0
            meta.pop("retry_after", None)
            return None

        return self.pipeline.change(
            ref, "resurrected", State.READY, mutate, allowed_from=[State.DEADLETTER], reason=reason
        )

    def move(self, ref: str, state: State | str, *, reason: str | None = None) -> Task:
        """Operator move along the lifecycle table (claims go through :meth:`claim`)."""
        target = State(state)
        if target == State.IN_PROGRESS:
            raise InvalidTransition("moving into in-progress needs a lease: use `aof task claim`")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.take_over(task, reason)
            meta.pop("lease", None)
            if target != State.BLOCKED:
                meta.pop("blocked", None)
            return None

        return self.pipeline.change(ref, "moved", target, mutate, reason=reason)
