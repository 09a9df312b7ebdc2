"""Leases: claiming a task, the holder's heartbeats and progress, giving it back."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from .. import layout
from ..clock import format_time
from ..errors import InvalidTransition, ValidationError
from ..files.privatefiles import private_dir, write_private
from ..journal.audit import Actor
from ..model.task import State, Task, failed_attempts, token_sha256
from ..model.text import append_section
from .pipeline import Pipeline

TOKEN_CHARS = 16  # random characters of a lease token after its fence (80 bits)


class Leases:
    """Claims, heartbeats, progress and releases (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def claim(self, ref: str, agent: str, *, ttl_s: float | None = None) -> Task:
        """Claim a ready task for ``agent``: one rename that exactly one claimant wins.

        Raise ClaimConflict if another claimant won, InvalidTransition if the task is not
        ready or a dependency is not done. The returned task's lease holds the fencing token
        (``lease["token"]``): it is given to the claimant only, the task file keeps its hash.
        """
        who = Actor.parse(agent if ":" in agent else f"agent:{agent}")
        ttl = float(ttl_s or self.pipeline.config.scheduler["lease_ttl_s"])

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            waiting = self.pipeline.pending_dependencies(task)
            if waiting:
                raise InvalidTransition(
                    f"task {task.id} cannot be claimed: waiting on "
                    + ", ".join(f"{d} ({s})" for d, s in waiting)
                )
            limit = int(meta.get("max_attempts") or self.pipeline.config.scheduler["max_attempts"])
            if failed_attempts(meta) >= limit:
                raise InvalidTransition(
                    f"task {task.id} cannot be claimed: its {limit} attempt(s) are used up "
                    f"(max_attempts {limit}); give it more with "
                    f"`aof task edit {task.id} --set max_attempts={limit + 1}`, or cancel it"
                )
            now = self.pipeline.clock.now()
            fence = int(meta.get("fence", 0)) + 1
            meta["fence"] = fence
            meta["attempts"] = int(meta.get("attempts", 0)) + 1
            meta.pop("retry_after", None)
            meta.pop("sla_notified", None)  # a new claim is a new SLA period
            secret[:] = [f"{fence}-{self.pipeline.ids.token(TOKEN_CHARS)}"]
            meta["lease"] = {
                "holder": who.id,
                "token_sha256": token_sha256(secret[0]),
                "acquired": format_time(now),
                "expires": format_time(now + timedelta(seconds=ttl)),
            }
            return None

        secret: list[str] = []
        task = self.pipeline.change(
            ref,
            "claimed",
            State.IN_PROGRESS,
            mutate,
            actor=who,
            allowed_from=[State.READY],
            conflict_as_claim=True,
        )
        # The claimant's copy (in memory only): the file and the audit keep the hash.
        task.meta["lease"] = {**task.meta["lease"], "token": secret[0]}
        return task

    def heartbeat(self, ref: str, token: str) -> dict[str, Any]:
        """Renew the lease's liveness, no commit (``.aof/heartbeats/``); LeaseError if stale."""
        task = self.pipeline.tasks.load(ref, prefer=(State.IN_PROGRESS,))
        self.pipeline.check_token(task, token, Actor("agent", "heartbeat"))
        beat = self.beat(task.id, token)
        expires = self.pipeline.lease_expiry(task) or self.pipeline.clock.now()
        return {**beat, "expires": format_time(expires)}

    def beat(self, task_id: str, token: str) -> dict[str, Any]:
        """Record that the holder of ``token`` is alive now (checked by the caller)."""
        fence = token.split("-", 1)[0]
        root = self.pipeline.root
        beat = {"id": task_id, "fence": fence, "at": self.pipeline.now()}
        private_dir(layout.heartbeats(root))
        write_private(layout.heartbeat(root, task_id), json.dumps(beat))
        return beat

    def release(self, ref: str, *, token: str | None = None, reason: str | None = None) -> Task:
        """Give an in-progress task back to ready (the attempt stays counted)."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            meta.pop("lease", None)
            return None

        return self.pipeline.change(
            ref, "released", State.READY, mutate, allowed_from=[State.IN_PROGRESS], reason=reason
        )

    def progress(self, ref: str, *, note: str, token: str | None = None) -> Task:
        """Append a line to the task's Work Log (agents report progress this way).

        With the holder's token it is also a heartbeat: an agent's own report renews its lease.
        """
        if not note.strip():
            raise ValidationError("note: the progress note is empty")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            return append_section(task.body, "Work Log", self.pipeline.note(note.strip()))

        task = self.pipeline.change(ref, "progress", None, mutate, reason=note.strip()[:200])
        if token is not None:
            self.beat(task.id, token)
        return task
