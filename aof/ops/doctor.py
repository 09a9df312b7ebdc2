"""The janitor: find, and with ``fix`` repair, what a crash or a hand edit can leave behind.

Checks, in order (each keeps going when one item fails, like Maildir's ``clean()``):

1. temp files in ``tasks/<state>/`` and its month shards: an interrupted move-and-rewrite is
   rolled forward when its task file still holds the content the move started from, every
   other temp is removed; temps of a live process younger than a minute are left alone;
2. task files directly in ``tasks/done/`` or ``tasks/cancelled/`` (the layout before month
   shards, :mod:`aof.ops.shards`): moved into their ``YYYY-MM/`` shard, in one commit; then
   the same id in two state directories: the copy in the state the audit trail names last
   wins (else the most recently updated one); the others go to ``.aof/conflicts/``, never
   deleted;
3. hand-written tasks (a title dropped in ``tasks/backlog/`` or ``tasks/ready/``,
   :mod:`aof.store.drafts`) are adopted: id, schema and created filled in, renamed to
   ``<id>-<slug>.md``, audited as ``created`` by the person;
   other files that are not tasks, or do not parse, or break the schema: reported, never
   touched;
4. in-progress tasks without a lease (a claim interrupted between its two steps) go back to
   ready; expired leases go back to ready, or to deadletter when attempts are exhausted;
5. a lease left on a task outside in-progress is removed;
6. anything in ``tasks/`` or ``audit/`` that git does not have yet is committed, with an
   audit record saying so, when it validates as the sweep checks it
   (:func:`aof.ops.edits.problem_of`: whitelisted names, no links, regular files); the rest is
   reported, never committed;
7. the JSON schemas in ``schemas/`` for editors (:mod:`aof.ops.rootschemas`): missing or
   different from this aof's is a warning; ``fix`` writes them and commits;
8. the audit trail: no ``(origin, day, seq)`` twice (:mod:`aof.ops.auditcheck`; after a
   git merge of two clones' trails each record is still named once);
9. the machine: git, tmux, the coders in use, the MCP package, free disk space
   (:mod:`aof.ops.envcheck`; a low disk is a warning, which leaves the report ok).

Every fix that touches a task holds that task's lock, so a live writer is never raced.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import AofError
from ..files import cardfile
from ..files.fsclock import fs_now
from ..model.task import STATES, State, id_from_filename

if TYPE_CHECKING:
    from ..service.context import ServiceContext
    from ..service.pipeline import Pipeline

TEMP_RE = re.compile(
    r"\.(?P<name>.+\.md)\.(?:mv\.(?P<base>[0-9a-f]{16})\.)?(?P<pid>\d+)\.[0-9a-f]+\.tmp\Z"
)
GRACE_S = 60.0


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    fixed: bool = False
    warning: bool = False


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.fixed or p.warning for p in self.problems)

    def add(
        self, kind: str, path: str, message: str, fixed: bool = False, warning: bool = False
    ) -> None:
        self.problems.append(Problem(kind, path, message, fixed, warning))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems]}


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(fleet: ServiceContext, pipeline: Pipeline, *, fix: bool) -> Report:
    """Check ``fleet`` (with ``fix``: repair it, through its ``pipeline``); see the module
    docstring for what is checked."""
    report = Report()
    _temps(fleet, report, fix)
    _unknown(fleet, report)
    from .shards import check as shards

    shards(fleet, report, fix)
    _duplicates(fleet, pipeline, report, fix)
    drafts = _adopt(fleet, report, fix)
    _tasks(fleet, pipeline, report, fix, skip=drafts)
    _uncommitted(fleet, report, fix)
    _schemas(fleet, report, fix)
    from .auditcheck import repeats

    for rel, origin, seq, n, legacy in repeats(fleet.audit):
        who = f"origin {origin}" if origin else "records without an origin"
        report.add("audit", rel, f"{who}: seq {seq} appears {n} times", warning=legacy)
    from .envcheck import check

    for kind, path, message, warning in check(fleet):
        report.add(kind, path, message, warning=warning)
    return report


def _adopt(fleet: ServiceContext, report: Report, fix: bool) -> set[str]:
    """Hand-written tasks (:mod:`aof.store.drafts`): adopted with ``fix``, as the person's
    (:func:`aof.journal.identity.human`); the paths of those seen, which ``_tasks`` then skips."""
    from ..journal.identity import human
    from ..store.drafts import drafts

    seen: set[str] = set()
    for path, _draft in list(drafts(fleet.tasks)):
        rel = fleet.tasks.rel(path)
        seen.add(rel)
        if not fix:
            report.add("adopt", rel, "a hand-written task: `aof doctor --fix` adopts it")
            continue
        try:
            task = fleet.adopt(path, actor=human(fleet.root))
        except AofError as exc:
            report.add("adopt", rel, f"a hand-written task that cannot be adopted: {exc}")
            continue
        report.add("adopt", rel, f"adopted as {task.id} ({fleet.tasks.rel(task.path)})", True)
    return seen


def _temps(fleet: ServiceContext, report: Report, fix: bool) -> None:
    for state in STATES:
        for directory in fleet.tasks.dirs(state):
            _temps_in(fleet, directory, report, fix)


def _temps_in(fleet: ServiceContext, directory: Path, report: Report, fix: bool) -> None:
    if directory.is_dir():
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            m = TEMP_RE.match(entry.name)
            if not m:
                continue
            rel = fleet.tasks.rel(Path(entry.path))
            try:
                age = fs_now(fleet.root) - entry.stat().st_mtime  # the file system's clock
            except FileNotFoundError:
                continue
            if _alive(int(m["pid"])) and age < GRACE_S:
                continue  # a live writer's temp: not ours to judge yet
            target = directory / m["name"]
            tid = id_from_filename(m["name"]) or "?"
            if not fix:
                report.add("temp", rel, "temp file left by an interrupted write")
                continue
            with fleet.tasks.lock(tid):
                rolled = False
                if m["base"] and target.exists():
                    try:
                        current = target.read_text(encoding="utf-8")
                    except OSError:
                        current = ""
                    if cardfile.content_hash(current) == m["base"]:
                        os.replace(entry.path, target)
                        rolled = True
                if not rolled:
                    Path(entry.path).unlink(missing_ok=True)
            what = (
                "rolled an interrupted move forward into " + fleet.tasks.rel(target)
                if rolled
                else "removed a temp file left by an interrupted write"
            )
            report.add("temp", rel, what, fixed=True)


def _unknown(fleet: ServiceContext, report: Report) -> None:
    tasks_dir = fleet.tasks.dir
    if not tasks_dir.is_dir():
        report.add("layout", "tasks", "the tasks/ directory is missing")
        return
    known = {s.value for s in STATES}
    for entry in sorted(os.scandir(tasks_dir), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.name not in known:
            kind = "directory" if entry.is_dir() else "file"
            report.add(
                "layout",
                f"tasks/{entry.name}",
                f"unknown {kind} in tasks/ (states are {', '.join(sorted(known))})",
            )
        elif entry.is_symlink():
            report.add("layout", f"tasks/{entry.name}", "state directory is a symlink")


def _last_states(fleet: ServiceContext) -> dict[str, str]:
    last: dict[str, str] = {}
    for rec in fleet.audit.records():
        entity = rec.get("entity") or {}
        if entity.get("kind") == "task" and rec.get("to"):
            last[str(entity.get("id"))] = str(rec["to"])
    return last


def _duplicates(fleet: ServiceContext, pipeline: Pipeline, report: Report, fix: bool) -> None:
    seen: dict[str, list[tuple[State, Path]]] = {}
    for state, entry in fleet.tasks.scan():
        tid = id_from_filename(entry.name)
        if tid:
            seen.setdefault(tid, []).append((state, Path(entry.path)))
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if not dups:
        return
    last = _last_states(fleet)
    for tid, copies in sorted(dups.items()):
        where = ", ".join(fleet.tasks.rel(p) for _, p in copies)
        if not fix:
            report.add("duplicate", where, f"task {tid} is in {len(copies)} state directories")
            continue
        with fleet.tasks.lock(tid):
            winner = _pick(copies, last.get(tid))
            for state, path in copies:
                if path == winner:
                    continue
                dest = (
                    layout.conflicts(fleet.root)
                    / f"{fleet.clock.now():%Y%m%dT%H%M%SZ}-{state.value}-{path.name}"
                )
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(path, dest)
                pipeline.record(
                    "recovered",
                    tid,
                    [path],
                    f"task {tid}: duplicate in {state.value} moved to .aof/conflicts",
                    actor=_system(),
                    reason=f"kept {fleet.tasks.rel(winner)}",
                )
        report.add(
            "duplicate",
            where,
            f"task {tid}: kept {fleet.tasks.rel(winner)}, others moved to .aof/conflicts/",
            fixed=True,
        )


def _pick(copies: list[tuple[State, Path]], audited: str | None) -> Path:
    for state, path in copies:
        if audited and state.value == audited:
            return path

    def updated(item: tuple[State, Path]) -> tuple[str, float]:
        try:
            meta = cardfile.read(item[1]).meta
            return (str(meta.get("updated") or meta.get("created") or ""), item[1].stat().st_mtime)
        except (OSError, AofError):
            return ("", 0.0)

    return max(copies, key=updated)[1]


def _system() -> Any:
    from ..journal.audit import Actor

    return Actor("system", "doctor")


def _tasks(
    fleet: ServiceContext, pipeline: Pipeline, report: Report, fix: bool, skip: set[str]
) -> None:
    rows, problems = fleet.tasks.summaries()
    rows.sort(key=lambda r: str(r["path"]))
    for msg in problems:
        path = msg.split(":", 1)[0]
        if path not in skip:
            report.add("invalid", path, msg)
    paths = {row["id"]: row["path"] for row in rows}
    for row in rows:
        state = State(row["state"])
        if state == State.IN_PROGRESS and not row["holder"]:
            _orphan(pipeline, report, fix, row)
        elif state != State.IN_PROGRESS and row["holder"]:
            if not fix:
                report.add("lease", row["path"], f"{state.value} task still carries a lease")
                continue
            try:
                pipeline.change(
                    row["id"],
                    "recovered",
                    None,
                    _drop_lease,
                    actor=_system(),
                    reason="lease left on a task outside in-progress",
                )
                report.add("lease", row["path"], "removed a lease left outside in-progress", True)
            except AofError as exc:
                report.add("lease", row["path"], f"could not remove the lease: {exc}")
    # Expired leases: the planner's `expire` actions, applied the way the daemon applies them.
    expired = [a for a in fleet.plan()["actions"] if a["kind"] == "expire"]
    if not fix:
        for a in expired:
            report.add("lease", paths.get(a["task"], a["task"]), a["reason"])
        return
    for a in fleet.apply({"actions": expired}, kinds=("expire",), actor=_system()):
        where = paths.get(a["task"], a["task"])
        if a["ok"]:
            report.add("lease", where, f"{a['reason']}: moved to {a['to']}", fixed=True)
        else:
            report.add("lease", where, f"{a['reason']}; could not recover: {a['error']}")


def _drop_lease(task: Any, meta: dict[str, Any]) -> None:
    meta.pop("lease", None)


def _orphan(pipeline: Pipeline, report: Report, fix: bool, row: dict[str, Any]) -> None:
    """An in-progress task without a lease: a claim interrupted between its two steps."""
    why = "in-progress without a lease (interrupted claim)"
    if not fix:
        report.add("lease", row["path"], why)
        return
    try:
        pipeline.change(
            row["id"],
            "recovered",
            State.READY,
            _drop_lease,
            actor=_system(),
            reason=why,
            allowed_from=[State.IN_PROGRESS],
        )
        report.add("lease", row["path"], f"{why}: moved to ready", fixed=True)
    except AofError as exc:
        report.add("lease", row["path"], f"{why}; could not recover: {exc}")


def _settled_dirty(fleet: ServiceContext) -> list[str]:
    """The paths under tasks/ and audit/ that differ from git, once the changes in flight
    have landed: a writer holds its task's lock from writing the file to committing it, so
    waiting for the lock of each task concerned tells a change in flight (an agent's report
    being committed right now) from one left uncommitted."""
    paths = fleet.git.dirty(("tasks", "audit"))
    ids = {id_from_filename(os.path.basename(p)) for p in paths if p.startswith("tasks/")}
    if not paths or not ids - {None}:
        return paths
    for tid in sorted(i for i in ids if i is not None):
        with fleet.tasks.lock(tid):
            pass
    return fleet.git.dirty(("tasks", "audit"))


def _uncommitted(fleet: ServiceContext, report: Report, fix: bool) -> None:
    if not fleet.git.enabled:
        return
    from .edits import problem_of

    paths = []
    seen = {p.path for p in report.problems}
    for rel in _settled_dirty(fleet):
        problem = problem_of(fleet, rel)  # only what validates is committed, as by the sweep
        if problem is None:
            paths.append(rel)
        elif rel not in seen:
            report.add("git", rel, f"not committed: {problem}")
    if not paths:
        return
    if not fix:
        report.add(
            "git",
            ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else ""),
            f"{len(paths)} path(s) in tasks/ or audit/ are not committed",
        )
        return
    _, audit_path = fleet.audit.append(
        _system(),
        "recovered",
        ("fleet", fleet.config.name),
        reason=f"committed {len(paths)} uncommitted path(s)",
        changes={"paths": paths[:100]},
    )
    fleet.git.commit(
        [*paths, audit_path],
        f"fleet: commit {len(paths)} leftover path(s) ({_system()})",
        _system(),
    )
    report.add("git", ", ".join(paths[:5]), f"committed {len(paths)} leftover path(s)", True)


def _schemas(fleet: ServiceContext, report: Report, fix: bool) -> None:
    from .rootschemas import stale, write

    rels = stale(fleet.root)
    if not rels:
        return
    where = ", ".join(rels[:3]) + (f" and {len(rels) - 3} more" if len(rels) > 3 else "")
    if not fix:
        report.add(
            "schemas",
            where,
            "missing, or not this aof's: editors check files against them "
            "(`aof doctor --fix` writes them)",
            warning=True,
        )
        return
    write(fleet.root, rels)
    _, audit_path = fleet.audit.append(
        _system(),
        "recovered",
        ("fleet", fleet.config.name),
        reason=f"wrote {len(rels)} schema file(s) for editors",
        changes={"paths": rels},
    )
    fleet.git.commit([*rels, audit_path], f"fleet: schemas for editors ({_system()})", _system())
    report.add("schemas", where, "wrote this aof's schemas for editors", fixed=True)
