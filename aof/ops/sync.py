"""Sharing a fleet root through git: fetch, merge, push (``git.remote`` in aof.yaml).

One pass (:func:`sync`), used by the coordinator's daemon every ``git.sync_s`` and by
``aof sync`` in a person's clone:

1. fetch the remote branch (bounded by ``git.timeout_s``; an unreachable remote ends the
   pass with ``error`` set: the caller warns and tries next time);
2. merge it (:mod:`aof.journal.gitmerge`: never a rebase, never a conflict marker on disk)
   under the locks of the tasks it changes, the git lock and the audit lock, so no aof
   writer of this clone races it. A conflict keeps the coordinator's version (``prefer``:
   ``ours`` in the daemon, ``theirs`` in a person's clone) and the other under
   ``.aof/conflicts/<stamp>/<path>``; each gets a ``sync_conflict`` audit record and
   notification naming both;
3. on the coordinator (``audit_incoming``), the incoming changes no aof record covers (a
   person's own ``git commit`` of a hand edit) go through the hand-edit sweep's checks
   (:func:`aof.ops.edits.problem_of`): valid ones are audited as the commit's author
   (``edited``, ``moved`` ...); one that does not validate is set aside like a conflict and
   the coordinator's version put back;
4. (``aof sync``) lint the merged root: a problem stops the pass before the push;
5. push; a push refused because the remote moved meanwhile fetches and merges again
   (at most :data:`ROUNDS` times).

What the pass did is kept in ``.aof/sync.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import format_time
from ..errors import AofError, ConfigError
from ..journal.audit import Actor
from ..journal.gitmerge import (
    Conflict,
    LocalChanges,
    apply,
    changes,
    hand_commits,
    plan_merge,
    save,
)
from ..journal.gitremote import Unreachable, fetch, push
from ..model.gitsync import sync_settings
from ..model.task import id_from_filename

if TYPE_CHECKING:
    from ..service.context import ServiceContext

SYNC_ACTOR = Actor("system", "sync")
ROUNDS = 3


@dataclass
class SyncResult:
    remote: str
    branch: str
    fetched: str | None = None  # the remote's commit
    merged: str | None = None  # the commit the branch moved to (None: nothing came in)
    fast_forward: bool = False
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)  # incoming hand edits recorded
    pushed: bool = False
    push_retries: int = 0
    error: str | None = None  # the remote could not be reached (or refused)
    waiting: str | None = None  # the merge waits on uncommitted changes here
    lint: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)  # local hand edits committed first
    left: dict[str, str] = field(default_factory=dict)  # local files left uncommitted: why
    at: str = ""

    @property
    def ok(self) -> bool:
        return not (self.error or self.waiting or self.lint or self.conflicts)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def sync(
    fleet: ServiceContext,
    *,
    prefer: str = "ours",
    audit_incoming: bool = True,
    push_after: bool = True,
    lint: Callable[[], list[str]] | None = None,
    hold: Callable[[], AbstractContextManager[Any]] | None = None,
    commit_local: bool = False,
) -> SyncResult:
    """One fetch, merge and push (see the module docstring). ``hold``: a context taken
    around the merge (the daemon's tick lock); ``lint``: checks run before the push, whose
    problems stop it; ``commit_local`` (a person's clone): first commit aof's deferred
    changes and the person's finished hand edits (:func:`aof.ops.edits.sweep`). ConfigError
    when ``git.remote`` is not set or commits are off."""
    settings = sync_settings(fleet.config.data)
    remote = settings["remote"]
    if not remote:
        raise ConfigError(
            f"{fleet.root / 'aof.yaml'}: git.remote: not set (no remote to sync with)"
        )
    if not fleet.git.enabled:
        raise ConfigError(f"{fleet.root / 'aof.yaml'}: git.commit: off (a sync needs commits)")
    ref, _ = fleet.git.branch_and_head()
    branch = settings["branch"] or ref.removeprefix("refs/heads/")
    result = SyncResult(remote, branch, at=format_time(fleet.clock.now()))
    timeout = settings["timeout_s"]
    if commit_local:
        _commit_local(fleet, result)
    for _round in range(ROUNDS):
        try:
            theirs = fetch(fleet.root, remote, branch, timeout)
        except Unreachable as exc:
            result.error = str(exc)
            break
        result.fetched = theirs
        try:
            with hold() if hold is not None else nullcontext():
                _merge(fleet, result, theirs, prefer, audit_incoming)
        except LocalChanges as exc:
            result.waiting = str(exc)
            break
        if lint is not None:
            result.lint = lint()
            if result.lint:
                break
        _, head = fleet.git.branch_and_head()
        if not push_after or head is None or head == theirs:
            break
        try:
            if push(fleet.root, remote, branch, head, timeout):
                result.pushed = True
                break
        except (Unreachable, AofError) as exc:
            result.error = str(exc)
            break
        result.push_retries += 1  # the remote moved since the fetch: again
    _keep(fleet.root, result)
    return result


def _commit_local(fleet: ServiceContext, result: SyncResult) -> None:
    """Commit what waits here: aof's deferred changes, then the person's hand edits."""
    from ..journal.identity import human
    from .edits import sweep

    if fleet.git.pending_path.exists():
        fleet.git.flush_pending(human(fleet.root))
    done = sweep(fleet, {})
    result.committed = sorted(done.committed)
    result.left = dict(done.invalid)
    for rel in done.young:
        result.left[rel] = f"{rel}: changed less than a few seconds ago; commit it next time"


def _keep(root: Path, result: SyncResult) -> None:
    from ..files.atomic import write_json

    try:
        layout.sync_state(root).parent.mkdir(parents=True, exist_ok=True)
        write_json(layout.sync_state(root), result.to_json())
    except OSError:
        pass  # what the last sync did is a courtesy; the sync itself is done


def _merge(
    fleet: ServiceContext, result: SyncResult, theirs: str | None, prefer: str, audit: bool
) -> None:
    """Merge ``theirs`` into the checked-out branch, set conflicts aside and record them."""
    root = fleet.root
    layout.sync_index(root).parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        ref, ours = fleet.git.branch_and_head()
        plan = plan_merge(
            root,
            ours,
            theirs,
            prefer=prefer,
            index=layout.sync_index(root),
            author=_author(fleet),
            message=f"sync: merge {result.remote} {result.branch} ({SYNC_ACTOR})",
        )
        if plan.new is None:
            return
        touched = [p for p, *_ in changes(root, ours, plan.new)]
        with _locks(fleet, touched):
            if fleet.git.branch_and_head()[1] != ours:
                continue  # an aof commit landed meanwhile: plan again
            apply(root, ref, ours, plan.new)
        break
    else:
        raise LocalChanges("the branch kept moving while the sync tried to merge; next time")
    result.merged, result.fast_forward = plan.new, plan.fast_forward
    stamp = fleet.clock.now().strftime("%Y%m%dT%H%M%SZ")
    save(root, plan.conflicts, layout.conflicts(root) / stamp)
    records = [_record_conflict(fleet, c, prefer) for c in plan.conflicts]
    result.conflicts = [r for r, _ in records]
    paths = [p.relative_to(root).as_posix() for _, p in records]
    if audit and theirs is not None:
        lost = {c.path for c in plan.conflicts}
        incoming = {p: a for p, a in hand_commits(root, ours, theirs).items() if p not in lost}
        paths += _audit_incoming(fleet, result, incoming, ours, stamp)
    if paths:
        n = len(result.conflicts)
        fleet.git.commit(
            paths,
            f"sync: {n} conflict(s) kept aside, incoming edits recorded ({SYNC_ACTOR})",
            SYNC_ACTOR,
        )


@contextmanager
def _locks(fleet: ServiceContext, paths: list[str]) -> Iterator[None]:
    """The locks of the tasks among ``paths`` (in id order), then git's, then the audit's:
    the order every aof writer takes them in, so none is raced and none deadlocks."""
    ids = sorted(
        {
            i
            for p in paths
            if p.startswith("tasks/") and (i := id_from_filename(os.path.basename(p)))
        }
    )
    with ExitStack() as stack:
        for tid in ids:
            stack.enter_context(fleet.tasks.lock(tid))
        stack.enter_context(fleet.git.lock)
        stack.enter_context(fleet.audit.lock)
        yield


def _author(fleet: ServiceContext) -> dict[str, str]:
    committer = fleet.config.committer or {"name": "aof", "email": "aof@localhost"}
    when = int(fleet.clock.now().timestamp())
    return {
        "name": str(SYNC_ACTOR),
        "email": f"{SYNC_ACTOR.id}@{SYNC_ACTOR.kind}.aof",
        "committer_name": committer["name"],
        "committer_email": committer["email"],
        "date": f"{when} +0000",
    }


def _record_conflict(
    fleet: ServiceContext, c: Conflict, prefer: str
) -> tuple[dict[str, Any], Path]:
    """One ``sync_conflict`` audit record (and its notification) for ``c``."""
    side = "this clone's" if prefer == "ours" else "the remote's"
    if c.kind == "duplicate":
        what = f"the task was in two state directories after the merge; kept {c.kept}"
    elif c.kept:
        what = f"changed on both sides; kept {side} version"
    else:
        what = f"removed or moved on {side} side, changed on the other; kept that"
    where = f", the other version is in {c.saved}" if c.saved else ""
    info = {"path": c.path, "kind": c.kind, "kept": c.kept, "saved": c.saved}
    return _append(fleet, c.path, f"{c.path}: {what}{where}", info)


def _append(
    fleet: ServiceContext, path: str, reason: str, info: dict[str, Any]
) -> tuple[dict[str, Any], Path]:
    """A ``sync_conflict`` record on the entity of ``path``, handed to the notifier."""
    from .edits import _entity

    kind, ident = _entity(path)
    record, audit_path = fleet.audit.append(
        SYNC_ACTOR,
        "sync_conflict",
        (kind, ident),
        reason=reason,
        changes=info,
        event="sync_conflict",
    )
    if fleet.config.data.get("notify"):
        from ..notify.hook import on_record

        def subject() -> dict[str, Any]:
            return dict(fleet.tasks.load(ident).meta) if kind == "task" else {}

        rel = audit_path.relative_to(fleet.root).as_posix()
        on_record(fleet.root, fleet.config.data, record, rel, subject)
    return record, audit_path


def _audit_incoming(
    fleet: ServiceContext,
    result: SyncResult,
    incoming: dict[str, str],
    ours: str | None,
    stamp: str,
) -> list[str]:
    """Record the incoming hand edits as their authors' (see the module docstring); the
    paths to commit (restored files and audit day files)."""
    from .edits import WATCHED, SweepResult, _commit, _moves, is_temp, problem_of

    watched = {
        p: a
        for p, a in incoming.items()
        if p.split("/", 1)[0] in WATCHED and not is_temp(os.path.basename(p))
    }
    bad = {p: why for p in watched if (why := problem_of(fleet, p)) is not None}
    bad_ids = {id_from_filename(os.path.basename(p)) for p in bad if p.startswith("tasks/")}
    for p in watched:  # a move stands or falls with its new file
        if (
            p not in bad
            and p.startswith("tasks/")
            and id_from_filename(os.path.basename(p)) in bad_ids
        ):
            bad[p] = ""
    paths = _set_aside(fleet, result, bad, ours, stamp)
    by_author: dict[str, list[str]] = {}
    for p, author in watched.items():
        if p not in bad:
            by_author.setdefault(author, []).append(p)
    for author, rels in sorted(by_author.items()):
        gone = {p for p in rels if not (fleet.root / p).exists()}
        moves, _held = _moves(fleet, rels, gone)
        done = SweepResult()
        _commit(fleet, rels, moves, done, who=_person(author), where="in a clone")
        result.audited += sorted(rels)
    return paths


def _set_aside(
    fleet: ServiceContext, result: SyncResult, bad: dict[str, str], ours: str | None, stamp: str
) -> list[str]:
    """Incoming files that do not validate: kept under ``.aof/conflicts/<stamp>/``, this
    clone's version put back, a ``sync_conflict`` recorded for each; the paths to commit."""
    from ..files.atomic import write_bytes
    from ..journal.gitmerge import read_at

    out: list[str] = []
    for p, why in sorted(bad.items()):
        target = fleet.root / p
        saved = None
        if target.is_file():
            dest = layout.conflicts(fleet.root) / stamp / p
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(dest, target.read_bytes())
            saved = dest.relative_to(fleet.root).as_posix()
        before = read_at(fleet.root, ours, p) if ours else None
        if before is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(target, before)
        out.append(p)
        if not why:
            continue  # the other half of a move set aside: its record names the task
        reason = f"{p}: an incoming change does not validate ({why}); kept this clone's version"
        info = {"path": p, "kind": "invalid", "kept": p if before else None, "saved": saved}
        record, audit_path = _append(
            fleet, p, reason + (f", the change is in {saved}" if saved else ""), info
        )
        result.conflicts.append(record)
        out.append(audit_path.relative_to(fleet.root).as_posix())
    return out


def _person(author: str) -> Actor:
    """The actor of a commit's author name: ``agent:coder-1`` as it is, a person's name as
    :mod:`aof.journal.identity` spells it (``Ada Lovelace`` -> ``human:ada-lovelace``)."""
    from ..journal.identity import sanitize

    try:
        if ":" in author:
            return Actor.parse(author)
    except AofError:
        pass
    return Actor("human", sanitize(author))
