"""The pipeline every change to a fleet root passes through, and the reads.

:class:`Pipeline` holds the fleet root's stores and the one mutation pipeline
(:meth:`Pipeline.change`): locate the task, take its per-task lock, re-read it, check the
lifecycle rule and fencing token, build the new content, validate it, write or move the file
atomically (:mod:`aof.files.cardfile`), append one audit record, and commit exactly the
touched paths. The verbs (:mod:`aof.service.authoring`, :mod:`aof.service.leases`,
:mod:`aof.service.lifecycle`, :mod:`aof.service.outcomes`, :mod:`aof.service.scheduling`)
each take a pipeline and call into it; :class:`aof.Fleet` builds them and is their facade.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import Clock, IdSource, SystemClock, SystemIds, format_time, parse_time
from ..errors import (
    ClaimConflict,
    InvalidTransition,
    LeaseError,
    NotFound,
    ValidationError,
)
from ..files import cardfile
from ..journal.audit import Actor, AuditLog, check_reason
from ..model.config import Config, load_config
from ..model.task import State, Task, lease_matches, ordered, seal_lease, validate
from ..store.summary import check_card
from ..store.tasks import Located, TaskStore
from . import reads
from .rules import check_move, check_revision

if TYPE_CHECKING:
    from ..journal.git import Committer
    from ..knowledge.items import Knowledge
    from ..model.shapes import TaskJson
    from ..registry.entries import Registry

# Fields a generic `edit --set` may not touch: identity, and what only the lifecycle writes.
PROTECTED = frozenset(
    {"schema", "id", "created", "created_by", "lease", "fence", "attempts", "spent"}
)
Mutator = Callable[[Task, dict[str, Any]], str | None]


class Pipeline:
    """A fleet root's stores, its reads and its mutation pipeline (see :class:`aof.Fleet`).

    ``clock`` and ``ids`` are injected so tests and replays are exact; ``actor`` is who the
    changes are attributed to in the audit trail and git; ``commit`` overrides ``git.commit``;
    ``reason`` is the reason of every audit record appended through this pipeline (see
    :meth:`reason` for one block of calls), in place of the one each verb computes.
    """

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
        self.root = Path(root).expanduser().resolve()  # "~/fleet" and Path objects alike
        self.config: Config = load_config(self.root)
        self.clock = clock or SystemClock()
        self.ids = ids or SystemIds()
        # A callable actor is asked on first use (the CLI's person costs a `git config`
        # call, which read-only commands never pay).
        self._actor: Actor | Callable[[], Actor] = (
            Actor.parse(actor) if isinstance(actor, str) else actor
        )
        self.tasks = TaskStore(self.root)
        self.audit = AuditLog(self.root, self.clock)
        self.audit.reason = check_reason(reason)
        self._commit = self.config.commit_mode != "off" if commit is None else commit
        self._git: Committer | None = None
        self._registry: Registry | None = None
        self._knowledge: Knowledge | None = None
        # Set by a front end for one explicit, audited act on a task another actor holds
        # (``--force`` with ``--reason``); see :meth:`check_token`.
        self.override_lease = False
        # The lease the running change overrode (set by check_token, read by change).
        self._overridden: dict[str, Any] | None = None

    @property
    def actor(self) -> Actor:
        """Who this pipeline's changes are attributed to."""
        if not isinstance(self._actor, Actor):
            self._actor = self._actor()
        return self._actor

    @property
    def git(self) -> Committer:
        """The committer (built on first use: read-only calls never import subprocess)."""
        if self._git is None:
            from ..journal.git import Committer

            self._git = Committer(
                self.root,
                enabled=self._commit,
                committer=self.config.committer,
                audit_lock=self.audit.lock,
                clock=self.clock,
                deferred=self.config.commit_mode == "batch",
            )
        return self._git

    @property
    def registry(self) -> Registry:
        """Teams, projects, hosts, schedules and agents (``aof.registry.entries``)."""
        if self._registry is None:
            from ..registry.entries import Registry

            self._registry = Registry(self)
        return self._registry

    @property
    def knowledge(self) -> Knowledge:
        """Sources, documents, facts and their search index (``aof.knowledge.items``)."""
        if self._knowledge is None:
            from ..knowledge.items import Knowledge

            self._knowledge = Knowledge(self)
        return self._knowledge

    @contextmanager
    def reason(self, text: str | None) -> Iterator[None]:
        """Within the block, every audit record this fleet object appends carries ``text``
        as its reason, in place of the one the verb computes (a completion's summary line, a
        question ...). None or blank text changes nothing; the previous reason comes back on
        leaving the block. ValidationError if the text is too long
        (``aof.journal.audit.REASON_MAX``).

            >>> with fleet.reason("customer escalation"):
            ...     fleet.edit_task("t-3kf9", priority="critical")
        """
        text = check_reason(text)
        if text is None:
            yield
            return
        before, self.audit.reason = self.audit.reason, text
        try:
            yield
        finally:
            self.audit.reason = before

    @contextmanager
    def overriding(self, reason: str) -> Iterator[None]:
        """Within the block, this fleet object acts on tasks another actor holds, without
        their lease token: an explicit override, never silent. Every audit record of the
        block carries ``reason``, and each overriding one names the lease it overrode
        (``changes.override: {lease_holder, fence}``). Agents cannot override. ValidationError
        for a blank reason.

            >>> with fleet.overriding("the agent is stuck; finishing by hand"):
            ...     fleet.complete("t-3kf9", token=None, summary="Finished by hand")
        """
        if not check_reason(reason):
            raise ValidationError("reason: overriding a lease needs a reason")
        before = self.override_lease
        self.override_lease = True
        try:
            with self.reason(reason):
                yield
        finally:
            self.override_lease = before

    # --- reading ----------------------------------------------------------------------------

    def get_task(self, ref: str) -> Task:
        """Return the task ``ref`` names (an id or unique prefix); NotFound otherwise."""
        return self.tasks.load(ref)

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
        """Summaries of matching tasks, most urgent first; unreadable files go to ``problems``.

        With ``invalid``, a file of the listed states that is not a valid task is a row too
        (``invalid: true`` and its ``reason``; see :func:`aof.store.summary.invalid_row`),
        unless a filter on the tasks' fields is given (a broken file cannot match one).
        """
        query = reads.Query(team, project, priority, tuple(labels), holder, text)
        return reads.list_tasks(self.tasks, states, query, problems, invalid)

    def board(
        self,
        *,
        team: str | None = None,
        problems: list[str] | None = None,
        invalid: bool = True,
    ) -> dict[str, Any]:
        """``{"counts": {state: n}, "columns": {open state: [task summary, ...]}}`` (of one
        team's tasks with ``team``). Files that are not valid tasks are rows marked
        ``invalid`` in their directory's column (and count), unless ``invalid`` is false."""
        return reads.board(self.list_tasks(team=team, problems=problems, invalid=invalid))

    def task_json(self, task: Task, *, body: bool = True) -> TaskJson:
        """The stable JSON shape of one task (docs/cli.md, "JSON shapes")."""
        return reads.task_json(task, self.tasks.rel(task.path), body=body)

    def pending_dependencies(self, task: Task) -> list[tuple[str, str]]:
        """(id, state) of each dependency of ``task`` that is not done (missing ones too)."""
        if not task.depends_on:
            return []
        states = self.tasks.states_of(task.depends_on)
        return [
            (d, states[d].value if d in states else "missing")
            for d in task.depends_on
            if states.get(d) != State.DONE
        ]

    def lease_expiry(self, task: Task) -> Any:
        """When the task's lease runs out: its ``expires``, pushed on by a matching heartbeat."""
        lease = task.lease
        if lease is None:
            return None
        return self.expiry_of(task.id, task.meta.get("fence"), lease["expires"])

    def expiry_of(self, task_id: str, fence: Any, expires: str) -> Any:
        """A lease's expiry (``expires``), pushed on by a heartbeat of the same claim.

        A heartbeat belongs to the claim whose fence it records (older heartbeats: the fence
        their token starts with, ``<fence>-...``); heartbeats are only written after the token
        was checked against the lease.
        """
        when = parse_time(expires)
        try:
            beat = json.loads(layout.heartbeat(self.root, task_id).read_text())
            beat_fence = beat.get("fence", str(beat.get("token", "")).split("-", 1)[0])
            if fence is not None and str(beat_fence) == str(fence):
                ttl = timedelta(seconds=float(self.config.scheduler["lease_ttl_s"]))
                when = max(when, parse_time(beat["at"]) + ttl)
        except (OSError, ValueError, KeyError):
            pass
        return when

    # --- the mutation pipeline ------------------------------------------------------------

    def now(self) -> str:
        """The clock's time, as the files write it."""
        return format_time(self.clock.now())

    def note(self, text: str, actor: Actor | None = None) -> str:
        """A dated, attributed line for a body section (Work Log, Questions, Review ...)."""
        return f"- {self.now()} {actor or self.actor}: {text}"

    def record(
        self,
        action: str,
        task_id: str,
        paths: Sequence[Path],
        message: str,
        *,
        actor: Actor | None = None,
        frm: str | None = None,
        to: str | None = None,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
        event: str | None = None,
        subject: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit record on task ``task_id`` and commit ``paths`` with it
        (``event``: the notification event the change raises, if its verb names one;
        ``subject``: the task's fields as written, for the notification's title, team and
        project). The record is handed to the notification hook (:mod:`aof.notify.hook`)
        when aof.yaml has a ``notify`` section."""
        who = actor or self.actor
        if self.tasks.seen is not None:  # a freed inode is reused at once (aof.store.seen)
            self.tasks.seen.changed(self.tasks.rel(p) for p in paths if p.is_relative_to(self.root))
        entity = ("task", task_id)
        record, audit_path = self.audit.append(
            who, action, entity, frm=frm, to=to, reason=reason, changes=changes, event=event
        )
        if self.config.data.get("notify"):  # else: nothing to route, nothing written
            self._notify(record, audit_path, subject)
        self.git.commit([*paths, audit_path], f"{message} ({who})", who)

    def _notify(
        self, record: dict[str, Any], audit_path: Path, subject: dict[str, Any] | None
    ) -> None:
        from ..notify.hook import on_record

        def lookup() -> dict[str, Any]:
            return subject if subject is not None else self.tasks.load(record["entity"]["id"]).meta

        on_record(self.root, self.config.data, record, self.tasks.rel(audit_path), lookup)

    def change(
        self,
        ref: str,
        action: str,
        to: State | None,
        mutate: Mutator,
        *,
        allowed_from: Iterable[State] | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        expect_rev: str | None = None,
        conflict_as_claim: bool = False,
        event: str | None = None,
        also: Iterable[Path] = (),
    ) -> Task:
        """Apply ``mutate`` to a task under its lock and move it to ``to`` (None: stay).

        ``mutate`` changes the task's (copied) fields in place and returns its new body, or
        None to keep it. The change is refused unless the task is in one of ``allowed_from``
        (when given), ``to`` is a move the lifecycle allows, and the task is still at revision
        ``expect_rev`` (when given); with ``conflict_as_claim`` a task taken meanwhile is a
        ClaimConflict. One audit record (``action``, by ``actor``, default this pipeline's;
        ``event`` when the change raises a notification event)
        and one commit (with ``also``: files the change wrote besides the task's).
        """
        loc = self.tasks.locate(ref, prefer=allowed_from or ())
        with self.tasks.lock(loc.id):
            task = self._reread(loc, conflict_as_claim)
            check_revision(task, expect_rev)
            target = check_move(task, action, to, allowed_from, conflict_as_claim)
            meta = cardfile.copy_plain(task.meta)  # a deep copy the mutator may change freely
            self._overridden = None
            new_body = mutate(task, meta)
            seal_lease(meta)  # the file keeps a hash of the token, never the token
            meta["updated"] = self.now()
            if target != task.state:  # a new period in a state: SLAs count from here
                meta["entered"] = meta["updated"]
                meta.pop("sla_notified", None)
            meta = ordered(meta)
            validate(meta, self.tasks.rel(task.path))
            text = cardfile.render(task.card, meta, new_body)
            cardfile.check_size(text, self.tasks.rel(task.path), written=True)
            changed = {
                k: meta.get(k)
                for k in set(meta) | set(task.meta)
                if meta.get(k) != task.meta.get(k) and k != "updated"
            }
            if self._overridden is not None:
                changed["override"] = self._overridden
            new_path = self._write(task, target, text, conflict_as_claim)
            moved = target != task.state
            self.record(
                action,
                task.id,
                [task.path, new_path, *also] if moved else [task.path, *also],
                f"task {task.id}: {task.state.value} -> {target.value}"
                if moved
                else f"task {task.id}: {action}",
                actor=actor,
                frm=task.state.value if moved else None,
                to=target.value if moved else None,
                reason=reason,
                changes=_jsonable(changed) or None,
                event=event,
                subject=meta,
            )
            card = cardfile.written(text, meta, new_body if new_body is not None else task.body)
            card.stamp = cardfile.Stamp.of(os.stat(new_path))
            return Task(task.id, target, new_path, card)

    def _reread(self, loc: Located, conflict_as_claim: bool) -> Task:
        """The task at ``loc`` read again under its lock, and checked to be valid."""
        try:
            task = self.tasks.read(self.tasks.relocate(loc))
        except NotFound:
            if conflict_as_claim:
                raise ClaimConflict(f"task {loc.id} was taken by another claimant") from None
            raise
        check_card(task.card, self.tasks.rel(task.path), task.id)
        return task

    def _write(self, task: Task, target: State, text: str, conflict_as_claim: bool) -> Path:
        """Write ``text`` as the task's file: in place, or moved to ``target``'s directory in
        the same step; the path it has now."""
        if target == task.state:
            cardfile.replace(task.path, text, expect=task.card.stamp)
            return task.path
        new_path = self.tasks.dest_dir(target, self.clock.now()) / task.path.name
        try:
            cardfile.move_rewrite(
                task.path,
                new_path,
                text,
                cardfile.content_hash(task.card.text),
                expect=task.card.stamp,
            )
        except FileNotFoundError:
            if conflict_as_claim:
                raise ClaimConflict(f"task {task.id} was taken by another claimant") from None
            raise NotFound(f"task {task.id} moved while it was being changed") from None
        except FileExistsError:
            raise InvalidTransition(
                f"task {task.id}: {self.tasks.rel(new_path)} already exists (a duplicate; "
                "run `aof doctor --fix`)"
            ) from None
        return new_path

    def check_token(self, task: Task, token: str | None, actor: Actor) -> None:
        """Refuse a stale or foreign fencing token; on a held task, refuse an actor without
        the token unless this pipeline overrides leases (``override_lease``, with a
        reason: the audit record then names the lease it overrode)."""
        lease = task.lease or {}
        # A task in review is held while a gate works on it (a command gate or a reviewer).
        held = task.state in (State.IN_PROGRESS, State.REVIEW) and bool(lease)
        if token is None:
            if actor.kind == "agent":
                raise LeaseError(
                    f"task {task.id}: an agent must pass its lease token (--token / "
                    "AOF_LEASE_TOKEN)"
                )
            if held and self.override_lease:
                if not self.audit.reason:
                    raise LeaseError(
                        f"task {task.id}: overriding the lease of {lease.get('holder')} "
                        "needs a reason (--reason TEXT)"
                    )
                self._overridden = {"lease_holder": lease.get("holder"), "fence": _fence(task)}
                return
            if held:
                raise LeaseError(
                    f"task {task.id} is held by {lease.get('holder')} (fence {_fence(task)}): "
                    "only the holder acts on it, with its lease token (--token / "
                    "AOF_LEASE_TOKEN); a person overrides the lease with --force --reason TEXT"
                )
            return
        if not held:
            raise LeaseError(
                f"task {task.id}: the token is stale: the task is {task.state.value} "
                "and holds no lease"
            )
        if not lease_matches(lease, token):
            raise LeaseError(
                f"task {task.id}: the token is stale or foreign: the lease is held by "
                f"{lease.get('holder')} (fence {_fence(task)})"
            )

    def take_over(self, task: Task, why: str | None) -> None:
        """A held task taken from its holder (cancelled or moved by someone without its lease
        token): only as an explicit override with a reason (:meth:`overriding`, the CLI's
        ``--force --reason``), never silently."""
        if task.state != State.IN_PROGRESS or not task.lease:
            return
        if why and not self.audit.reason:
            with self.reason(why):
                self.check_token(task, None, self.actor)
        else:
            self.check_token(task, None, self.actor)


def _fence(task: Task) -> Any:
    return task.meta.get("fence")


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return out


__all__ = [
    "PROTECTED",
    "Mutator",
    "Pipeline",
]
