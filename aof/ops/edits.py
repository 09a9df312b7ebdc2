"""Human edits: files a person changed, moved or wrote by hand, validated, audited, committed.

The daemon calls :func:`sweep` for the paths the watcher named, and for everything at start
and every ``scheduler.sweep_s``. First, hand-written tasks (a file with a title dropped in
``tasks/backlog/`` or ``tasks/ready/``, :mod:`aof.store.drafts`) are adopted: given an id and
renamed, and recorded as ``created`` by the person. Then every path under the fleet's own
directories that differs from git's HEAD, and is not an aof change waiting for the daemon's
commit (``git.commit: batch``), is a person's change:

- a task file gone from one state directory and present in another is a hand move: one
  ``moved`` record (from, to) and the removal and addition in the same commit, never a
  deletion plus an edit;
- a task whose file is in two state directories on disk (copied, not yet removed) waits:
  no commit ever shows a task twice;
- any other valid file gets one ``edited`` (or ``deleted``) record.

Each directory has a whitelist of names (:func:`name_problem_of`), and a symlink, FIFO or
device is never committed whatever its name: it is reported, like a file that does not
validate.

Everything is attributed to the person (:func:`aof.journal.identity.human`: ``AOF_ACTOR``,
else git's user.name, else the login) and committed as one commit. A file that does not validate is
left
uncommitted and reported with file, line and field, once per version of the file, so a
half-finished edit never lands in git and never crashes a tick; a move waits with its file.

A file changed less than ``SETTLE_S`` ago is left for the next sweep: aof's own writers
commit within milliseconds of writing, so a fresh file may be theirs, mid-commit, and must
not be committed (and attributed) as a person's edit.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import AofError
from ..files.fsclock import fs_now
from ..journal.identity import human
from ..knowledge.spec import TYPE_OF_DIR
from ..model.task import SLUG_RE, TRANSITIONS, State, id_from_filename
from ..store.summary import name_problem

if TYPE_CHECKING:
    from ..journal.audit import Actor
    from ..service.context import ServiceContext

WATCHED = (
    "tasks",
    "teams",
    "projects",
    "hosts",
    "schedules",
    "agents",
    "workflows",
    "knowledge",
    "aof.yaml",
)
SETTLE_S = 2.0
AUDIT_FILE = re.compile(r"audit/[0-9]{4}/[0-9]{2}/[0-9]{2}\.jsonl\Z")
REGISTRY_DIRS = {
    "teams": "team",
    "projects": "project",
    "hosts": "host",
    "schedules": "schedule",
    "agents": "agent",
}


@dataclass
class SweepResult:
    committed: list[str] = field(default_factory=list)
    adopted: dict[str, str] = field(default_factory=dict)  # draft's path -> the task's path
    invalid: dict[str, str] = field(default_factory=dict)
    young: list[str] = field(default_factory=list)
    commit: str | None = None


def is_temp(name: str) -> bool:
    """Editor and aof temp files: never someone's finished edit."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swx", ".tmp", ".part"))
        or name == "4913"  # vim's write probe
        or ".mv." in name
    )


def problem_of(fleet: ServiceContext, rel: str) -> str | None:
    """Why the file at ``rel`` may not be committed, or None when it validates.

    Each directory has a whitelist of names (:func:`name_problem_of`); a symlink, a FIFO or
    a device is never committed (nor opened), whatever its name.
    """
    path = fleet.root / rel
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None  # a deletion
    except OSError as exc:
        return f"{rel}:1: (file): cannot be read: {exc.strerror}"
    if stat.S_ISLNK(mode):
        return f"{rel}:1: (file): is a symlink; aof does not follow or commit links"
    if not stat.S_ISREG(mode):
        return f"{rel}:1: (file): is not a regular file; aof does not open or commit it"
    top = rel.split("/", 1)[0]
    try:
        if top == "tasks":
            tid = id_from_filename(path.name)
            if tid is None:
                return name_problem(rel, _state_of(rel) or State.DONE)
            fleet.tasks.read_checked(path, rel, tid)
            return None
        problem = name_problem_of(rel)
        if problem is not None:
            return problem
        if top in REGISTRY_DIRS:
            fleet.registry.get(REGISTRY_DIRS[top], path.name[: -len(".md")])
        elif top == "knowledge":
            type_ = TYPE_OF_DIR[os.path.dirname(rel)]
            fleet.knowledge.get(type_, path.name[: -len(".md")])
        elif top == "workflows":
            from . import lint_workflows

            return lint_workflows.problem(fleet.root, rel)
        elif rel == "aof.yaml":
            from ..model.config import load_config

            load_config(fleet.root)
    except AofError as exc:
        return str(exc)
    except FileNotFoundError:
        return None  # deleted meanwhile: a deletion
    return None


def name_problem_of(rel: str) -> str | None:
    """Why ``rel`` (outside ``tasks/``) has a name aof does not keep, or None.

    What may live where: ``<slug>.md`` directly in a registry directory, ``<slug>.md`` in
    ``knowledge/sources|documents|facts/``, ``<name>.yaml`` in ``workflows/``,
    ``audit/YYYY/MM/DD.jsonl`` and ``aof.yaml``. Anything else is reported and never committed.
    """
    parts = rel.split("/")
    top = parts[0]
    if top in REGISTRY_DIRS:
        if len(parts) == 2 and _named(parts[1], ".md"):
            return None
        return f"{rel}:1: (file name): {top}/ holds only <slug>.md cards"
    if top == "knowledge":
        if len(parts) == 3 and "/".join(parts[:2]) in TYPE_OF_DIR and _named(parts[2], ".md"):
            return None
        return (
            f"{rel}:1: (file name): knowledge files are knowledge/sources|documents|facts/<slug>.md"
        )
    if top == "workflows":
        if len(parts) == 2 and _named(parts[1], ".yaml", ".yml"):
            return None
        return f"{rel}:1: (file name): workflows/ holds only <name>.yaml files"
    if top == "audit":
        if AUDIT_FILE.match(rel):
            return None
        return f"{rel}:1: (file name): audit/ holds only YYYY/MM/DD.jsonl files"
    if rel == "aof.yaml":
        return None
    return f"{rel}:1: (file name): not a file aof keeps in the fleet root"


def _named(name: str, *suffixes: str) -> bool:
    """Whether ``name`` is ``<slug><suffix>`` for one of ``suffixes``."""
    return any(name.endswith(x) and SLUG_RE.match(name[: -len(x)]) for x in suffixes)


def sweep(
    fleet: ServiceContext,
    reported: dict[str, Any],
    *,
    now: float | None = None,
    only: Sequence[str] | None = None,
) -> SweepResult:
    """Adopt hand-written tasks, then commit valid human edits and moves; ``reported``
    remembers invalid versions already reported.

    ``now`` (seconds on the file system's clock, default its current time: ``aof.files.fsclock``)
    judges whether a file has settled. ``only``: look for edits at these paths (relative to
    the root, taken literally: a watcher's report) instead of everywhere aof watches; git
    then stats those alone, not every file of the fleet root.
    """
    result = SweepResult()
    wall = fs_now(fleet.root) if now is None else now
    drafts = _adopt(fleet, reported, result, wall)  # also without commits: they are tasks
    if not fleet.git.enabled:
        return result
    waiting = {str(p) for item in fleet.git.pending() for p in item.get("paths") or []}
    paths = [
        p
        for p in fleet.git.dirty(WATCHED if only is None else _pathspecs(only))
        if p not in waiting
        and p not in drafts
        and not is_temp(os.path.basename(p))
        and "/.aof" not in p
    ]
    if not paths:
        return result
    gone = _settling(fleet, paths, wall, result)
    settled = [rel for rel in paths if rel not in result.young]
    moves, held = _moves(fleet, settled, gone)
    ok: list[str] = []
    for rel in settled:
        if rel in held:
            continue
        problem = problem_of(fleet, rel)
        if problem is None:
            ok.append(rel)
            reported.pop(rel, None)
        else:
            _report(fleet, reported, result, rel, problem)
    for old, new in list(moves.items()):
        if new in ok:
            ok.append(old)  # the removal goes in the same commit as the addition
        else:
            del moves[old]  # the new file does not validate: the move waits with it
    for rel, why in held.items():
        if why:
            _report(fleet, reported, result, rel, why)
    if ok:
        _commit(fleet, ok, moves, result)
    return result


def _pathspecs(paths: Sequence[str]) -> list[str]:
    """git pathspecs for a watcher's ``paths``: each taken literally, and every file of a
    task among them in any state directory, so a move whose other half the watcher has not
    named yet is seen whole (its gone file waits with its fresh one, :func:`_settling`)."""
    ids = {i for p in paths if p.startswith("tasks/") and (i := id_from_filename(p.split("/")[-1]))}
    return [*(f":(literal){p}" for p in paths), *(f":(glob)tasks/**/{i}-*.md" for i in sorted(ids))]


def _settling(
    fleet: ServiceContext, paths: list[str], wall: float, result: SweepResult
) -> set[str]:
    """Note in ``result.young`` the paths changed too recently to commit; the paths gone."""
    gone = set()
    for rel in paths:
        try:
            if wall - os.stat(fleet.root / rel).st_mtime < SETTLE_S:
                result.young.append(rel)
        except FileNotFoundError:
            gone.add(rel)
    # A task file gone from one state directory while its id is fresh in another is a move
    # still being committed: it settles together with its new file.
    fresh_ids = {id_from_filename(os.path.basename(p)) for p in result.young}
    for rel in sorted(gone):
        if rel.startswith("tasks/") and id_from_filename(os.path.basename(rel)) in fresh_ids:
            result.young.append(rel)
    return gone


def _commit(
    fleet: ServiceContext,
    ok: list[str],
    moves: dict[str, str],
    result: SweepResult,
    who: Actor | None = None,
    where: str = "outside aof",
) -> None:
    """Audit each of the ``ok`` paths (a move as one record) and commit them together, as
    ``who`` (default: the person at this machine, as the CLI names them:
    :mod:`aof.journal.identity`)."""
    who = who or human(fleet.root)
    audit_paths = []
    messages = []
    moved_to = {new: old for old, new in moves.items()}
    for rel in ok:
        if rel in moves:
            continue  # recorded with its new file, as one move
        kind, ident = _entity(rel)
        if rel in moved_to:
            frm, to = _state_of(moved_to[rel]), _state_of(rel)
            assert frm is not None and to is not None
            outside = "" if to in TRANSITIONS[frm] else " (outside the lifecycle table)"
            _, audit_path = fleet.audit.append(
                who,
                "moved",
                (kind, ident),
                frm=frm.value,
                to=to.value,
                reason=f"moved by hand{'' if where == 'outside aof' else ' ' + where}{outside}",
                changes={"path": rel},
            )
            messages.append(f"task {ident}: {frm.value} -> {to.value} (moved by hand)")
        else:
            action = "edited" if (fleet.root / rel).exists() else "deleted"
            _, audit_path = fleet.audit.append(
                who, action, (kind, ident), reason=f"edited {where}", changes={"path": rel}
            )
            messages.append(f"{rel}: {action}")
        audit_paths.append(audit_path)
    if len(messages) == 1:
        subject = messages[0]
    else:
        subject = f"{len(messages)} files edited\n\n" + "\n".join(f"- {m}" for m in messages)
    result.commit = fleet.git.commit([*ok, *audit_paths], f"{subject} ({who})", who)
    result.committed.extend(ok)


def _adopt(
    fleet: ServiceContext, reported: dict[str, Any], result: SweepResult, wall: float
) -> set[str]:
    """Adopt each settled hand-written task (:mod:`aof.store.drafts`) as the person's; the
    paths it dealt with (adopted, refused or too fresh), for the rest of the sweep to skip."""
    from ..store.drafts import drafts

    dealt: set[str] = set()
    who = None
    for path, _draft in list(drafts(fleet.tasks)):
        rel = fleet.tasks.rel(path)
        dealt.add(rel)
        try:
            if wall - path.stat().st_mtime < SETTLE_S:
                result.young.append(rel)
                continue
            who = who or human(fleet.root)
            task = fleet.adopt(path, actor=who)
        except FileNotFoundError:
            continue
        except AofError as exc:
            _report(fleet, reported, result, rel, str(exc))
            continue
        reported.pop(rel, None)
        result.adopted[rel] = fleet.tasks.rel(task.path)
        result.committed.append(result.adopted[rel])
    return dealt


def _report(
    fleet: ServiceContext, reported: dict[str, Any], result: SweepResult, rel: str, problem: str
) -> None:
    """Report ``problem`` of ``rel`` once per version of the file."""
    try:
        stamp = os.stat(fleet.root / rel).st_mtime_ns
    except OSError:
        stamp = 0
    if reported.get(rel) != stamp:
        result.invalid[rel] = problem
        reported[rel] = stamp


def _state_of(rel: str) -> State | None:
    """The state of a path ``tasks/<state>/<file>`` or ``tasks/<done|cancelled>/YYYY-MM/<file>``
    (None for any other path)."""
    name = layout.task_state(rel)
    if name is None:
        return None
    try:
        return State(name)
    except ValueError:
        return None


def _moves(
    fleet: ServiceContext, settled: list[str], gone: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Hand moves among the settled paths, and the paths that must wait.

    A task file gone from one state directory and present in another is one move
    (old path -> new path), committed together or not at all. A task whose file is in two
    state directories on disk (a copy not yet removed, the second half of a move not yet
    made) is held back with the reason: committing it would show the task twice.
    Returns (moves, held: path -> reason, "" for a path that only waits for its pair).
    """
    present: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    for rel in settled:
        if _state_of(rel) is None:
            continue
        tid = id_from_filename(rel.rsplit("/", 1)[-1])
        if tid is None:
            continue
        (removed if rel in gone else present).setdefault(tid, []).append(rel)
    moves: dict[str, str] = {}
    held: dict[str, str] = {}
    for tid, news in present.items():
        copies = fleet.tasks.copies(tid)
        if len(copies) > 1:
            dirs = ", ".join(f"tasks/{s.value}/" for s in copies)
            why = (
                f"{news[0]}:1: (file): task {tid} is in {len(copies)} state directories "
                f"({dirs}); remove the copy you do not want (or run `aof doctor --fix`)"
            )
            for rel in news:
                held[rel] = why
            for rel in removed.get(tid, []):
                held[rel] = ""
            continue
        olds = removed.get(tid, [])
        if len(news) == 1 and len(olds) == 1:
            moves[olds[0]] = news[0]
            held[olds[0]] = ""  # committed only together with its new file
    return moves, held


def _entity(rel: str) -> tuple[str, str]:
    parts = rel.split("/")
    if parts[0] == "tasks":
        return "task", id_from_filename(parts[-1]) or parts[-1]
    if parts[0] in REGISTRY_DIRS:
        return REGISTRY_DIRS[parts[0]], parts[-1].removesuffix(".md")
    if os.path.dirname(rel) in TYPE_OF_DIR:
        return f"knowledge-{TYPE_OF_DIR[os.path.dirname(rel)]}", parts[-1].removesuffix(".md")
    if rel == "aof.yaml":
        return "fleet", "aof.yaml"
    return parts[0].rstrip("s"), parts[-1].removesuffix(".md").removesuffix(".yaml")
