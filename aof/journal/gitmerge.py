"""Merging a fleet root with its remote without ever losing a side.

:func:`plan_merge` computes the merge in git's object store only (``git merge-tree
--write-tree``: the working tree and the user's index are not touched, so no reader ever
sees a conflict marker), then resolves it in a private index:

- a path both sides changed (content, or one changed and the other deleted or moved it)
  takes the winner's version (``prefer``: ``ours`` on the coordinator, ``theirs`` in a
  person's clone, so the coordinator's version always stays); the loser's version is kept
  as a :class:`Conflict`, to be written under ``.aof/conflicts/<stamp>/<path>``;
- an audit day file is never a conflict: ``.gitattributes`` union-merges it, and if a root
  lacks that line the two sides' lines are unioned here;
- a task that ends up in two state directories (both sides moved it, to different states)
  keeps the copy the winner has (else the one furthest along the lifecycle); the other copy
  is a Conflict too.

The result is a merge commit (or the remote's commit, when ours is behind and nothing needed
resolving). :func:`apply` then moves the branch to it with a compare-and-swap and brings the
working tree along, file by file with atomic writes: a path that holds an uncommitted change
stops it (:class:`LocalChanges`) before anything moves, except an audit day file with
records appended after its last commit, which keeps them after the merged content.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .. import layout
from ..errors import GitError
from ..model.task import STATES, id_from_filename

AUDIT_FILE = re.compile(r"audit/[0-9]{4}/[0-9]{2}/[0-9]{2}\.jsonl\Z")
ZERO = "0" * 40
STATE_RANK = {s.value: i for i, s in enumerate(STATES)}


class LocalChanges(GitError):
    """A path the merge would change holds an uncommitted change: the merge waits."""


@dataclass
class Conflict:
    path: str  # where the loser's version was (or would have been)
    kind: str  # "content" (both changed it), "deleted" (one side removed it), "duplicate"
    kept: str | None  # the path whose version stays (None: the winner removed it)
    loser: tuple[str, str] | None  # (mode, blob) of the version set aside; None: removed
    saved: str | None = None  # where it was kept, relative to the root (set by save)


@dataclass
class MergePlan:
    ours: str | None
    theirs: str | None
    new: str | None = None  # the commit the branch moves to; None: nothing to merge
    conflicts: list[Conflict] = field(default_factory=list)
    fast_forward: bool = False


def git(root: Path, *args: str, stdin: str | None = None, index: Path | None = None) -> str:
    """``git ARGS`` in ``root`` (text out); GitError naming the command when it fails."""
    env = dict(os.environ)
    env.pop("GIT_INDEX_FILE", None)
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    # A private index is a whole file of its own: in a split index (the fleet root's setting)
    # it would lean on a shared index file that git may expire and delete under it.
    proc = subprocess.run(
        ["git", "-c", "gc.auto=0", "-c", "core.splitIndex=false", *args],
        cwd=root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def is_ancestor(root: Path, a: str, b: str) -> bool:
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", a, b], cwd=root, capture_output=True
    )
    return proc.returncode == 0


def plan_merge(
    root: Path,
    ours: str | None,
    theirs: str | None,
    *,
    prefer: str,
    index: Path,
    author: dict[str, str],
    message: str,
) -> MergePlan:
    """What merging ``theirs`` into ``ours`` gives (see the module docstring); nothing on
    disk changes but git objects and the private ``index``."""
    plan = MergePlan(ours, theirs)
    if theirs is None or theirs == ours or (ours and is_ancestor(root, theirs, ours)):
        return plan  # nothing new over there
    stages: dict[str, dict[str, tuple[str, str]]] = {}
    if ours is None or is_ancestor(root, ours, theirs):
        plan.fast_forward = True
        tree = f"{theirs}^{{tree}}"
    else:
        tree, stages = _merge_tree(root, ours, theirs)
    winner = ours if prefer == "ours" else theirs
    win, lose = ("2", "3") if prefer == "ours" else ("3", "2")
    git(root, "read-tree", tree, index=index)
    lines: list[str] = []
    for path, entries in sorted(stages.items()):
        if AUDIT_FILE.match(path) and "2" in entries and "3" in entries:
            blob = _union(root, entries["2"][1], entries["3"][1])
            lines.append(f"{entries['2'][0]} {blob}\t{path}")
            continue
        kept = entries.get(win)
        lines.append(f"{kept[0]} {kept[1]}\t{path}" if kept else f"0 {ZERO}\t{path}")
        kind = "content" if kept and lose in entries else "deleted"
        plan.conflicts.append(Conflict(path, kind, path if kept else None, entries.get(lose)))
    if lines:
        git(root, "update-index", "--index-info", stdin="\n".join(lines) + "\n", index=index)
    plan.conflicts += _duplicates(root, index, winner)
    final = git(root, "write-tree", index=index).strip()
    if plan.fast_forward and final == git(root, "rev-parse", tree).strip():
        plan.new = theirs
        return plan
    parents = ["-p", theirs] if plan.fast_forward or ours is None else ["-p", ours, "-p", theirs]
    env_msg = message + (
        f"\n\n{len(plan.conflicts)} conflict(s) kept aside" if plan.conflicts else ""
    )
    plan.new = _commit_tree(root, final, parents, env_msg, author)
    return plan


def _merge_tree(
    root: Path, ours: str, theirs: str
) -> tuple[str, dict[str, dict[str, tuple[str, str]]]]:
    """(tree, conflicted path -> stage -> (mode, blob)) of ``git merge-tree --write-tree``."""
    proc = subprocess.run(
        ["git", "merge-tree", "--write-tree", "-z", ours, theirs],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1):
        raise GitError(f"git merge-tree failed: {proc.stderr.strip()[-300:]}")
    items = proc.stdout.split("\0")
    stages: dict[str, dict[str, tuple[str, str]]] = {}
    for item in items[1:]:
        m = re.match(r"(\d{6}) ([0-9a-f]{40,64}) ([123])\t(.+)\Z", item, re.S)
        if not m:
            break
        stages.setdefault(m[4], {})[m[3]] = (m[1], m[2])
    return items[0], stages


def _union(root: Path, ours: str, theirs: str) -> str:
    """A blob of ``ours``' lines followed by those of ``theirs`` it does not have."""
    a = git(root, "cat-file", "blob", ours)
    b = git(root, "cat-file", "blob", theirs)
    have = set(a.splitlines())
    extra = [line for line in b.splitlines() if line not in have]
    text = a if not extra else a.rstrip("\n") + "\n" + "\n".join(extra) + "\n"
    return git(root, "hash-object", "-w", "--stdin", stdin=text).strip()


def _task_files(root: Path, treeish: str, index: Path | None = None) -> dict[str, tuple[str, str]]:
    """``tasks/<state>/[YYYY-MM/]<file>`` -> (mode, blob) of a tree (or of ``index``)."""
    if index is not None:
        out = git(root, "ls-files", "-s", "-z", "--", "tasks", index=index)
        rows = [r.split("\t", 1) for r in out.split("\0") if r]
        entries = {p: (m.split()[0], m.split()[1]) for m, p in rows}
    else:
        out = git(root, "ls-tree", "-r", "-z", treeish, "--", "tasks")
        rows = [r.split("\t", 1) for r in out.split("\0") if r]
        entries = {p: (m.split()[0], m.split()[2]) for m, p in rows}
    return {p: e for p, e in entries.items() if layout.task_state(p) in STATE_RANK}


def _duplicates(root: Path, index: Path, winner: str | None) -> list[Conflict]:
    """Tasks in two state directories in ``index``: all but one copy removed from it."""
    by_id: dict[str, list[str]] = {}
    files = _task_files(root, "", index)
    for path in files:
        tid = id_from_filename(path.rsplit("/", 1)[-1])
        if tid:
            by_id.setdefault(tid, []).append(path)
    theirs_or_ours = set(_task_files(root, winner)) if winner else set()
    out, lines = [], []
    for _tid, paths in sorted(by_id.items()):
        if len(paths) < 2:
            continue
        known = [p for p in paths if p in theirs_or_ours]
        pool = known if len(known) == 1 else paths
        keep = max(pool, key=lambda p: STATE_RANK[p.split("/")[1]])
        for p in sorted(paths):
            if p != keep:
                out.append(Conflict(p, "duplicate", keep, files[p]))
                lines.append(f"0 {ZERO}\t{p}")
    if lines:
        git(root, "update-index", "--index-info", stdin="\n".join(lines) + "\n", index=index)
    return out


def _commit_tree(
    root: Path, tree: str, parents: list[str], message: str, who: dict[str, str]
) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME=who["name"],
        GIT_AUTHOR_EMAIL=who["email"],
        GIT_COMMITTER_NAME=who.get("committer_name", who["name"]),
        GIT_COMMITTER_EMAIL=who.get("committer_email", who["email"]),
    )
    if who.get("date"):
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = who["date"]
    proc = subprocess.run(
        ["git", "commit-tree", tree, *parents, "-m", message],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise GitError(f"git commit-tree failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


# --- bringing the working tree along ------------------------------------------------------


def _blobs(root: Path, oids: set[str]) -> dict[str, bytes]:
    """The content of each blob in ``oids``, read by one ``git cat-file --batch``."""
    oids = {o for o in oids if o and o != ZERO}
    if not oids:
        return {}
    order = sorted(oids)
    proc = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=root,
        input=("\n".join(order) + "\n").encode(),
        capture_output=True,
    )
    if proc.returncode != 0:
        raise GitError(f"git cat-file failed: {proc.stderr.decode(errors='replace')[-300:]}")
    out: dict[str, bytes] = {}
    data, pos = proc.stdout, 0
    for oid in order:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        size = int(header[2])
        out[oid] = data[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return out


def changes(root: Path, old: str | None, new: str) -> list[tuple[str, str, str, str]]:
    """(path, old blob, new blob, new mode) of each path that differs between two commits
    (a blob of zeros: absent on that side)."""
    if old is None:
        out = git(root, "ls-tree", "-r", "-z", new)
        pairs = [r.split("\t", 1) for r in out.split("\0") if r]
        return [(p, ZERO, m.split()[2], m.split()[0]) for m, p in pairs]
    raw = git(root, "diff", "--raw", "-z", "--no-renames", "--no-abbrev", old, new)
    items = raw.split("\0")
    rows: list[tuple[str, str, str, str]] = []
    for head, path in zip(items[0::2], items[1::2], strict=False):
        if not head.startswith(":"):
            continue
        _om, nm, oo, no, _st = head[1:].split()
        rows.append((path, oo, no, nm))
    return rows


def apply(root: Path, ref: str, old: str | None, new: str) -> list[str]:
    """Move ``ref`` from ``old`` to ``new`` (compare-and-swap) and bring the working tree and
    the user's index along for every path that differs; the paths changed. LocalChanges
    (naming the paths) when one holds an uncommitted change, GitError when the branch moved
    meanwhile; in both cases nothing was changed. The caller holds the locks."""
    rows = changes(root, old, new)
    blobs = _blobs(root, {o for _, o, _, _ in rows} | {n for _, _, n, _ in rows})
    writes: list[tuple[str, bytes | None, str]] = []
    dirty = []
    for path, oo, no, mode in rows:
        before = blobs.get(oo)
        after = blobs.get(no)
        disk = _read(root / path)
        extra = b""
        if disk != before and disk != after:
            if (
                before is not None
                and disk is not None
                and AUDIT_FILE.match(path)
                and disk.startswith(before)
            ):
                extra = disk[len(before) :]  # records appended since the last commit: kept
            else:
                dirty.append(path)
                continue
        writes.append((path, None if after is None else after + extra, mode))
    if dirty:
        raise LocalChanges(
            f"the merge waits: uncommitted change(s) in {', '.join(sorted(dirty)[:5])}"
            + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
            + " (commit or revert them, or let the daemon's sweep commit them)"
        )
    git(root, "update-ref", ref, new, old or ZERO)
    from ..files.atomic import write_bytes

    for path, data, mode in writes:
        target = root / path
        if data is None:
            target.unlink(missing_ok=True)
            continue
        if mode == "120000":
            continue  # aof never writes links; git status shows it for a person to handle
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, data)
        if mode == "100755":
            os.chmod(target, 0o755)
    _refresh_index(root, rows)
    return [p for p, _, _ in writes]


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _refresh_index(root: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """The user's index entries of ``rows`` set to the new commit's (so ``git status`` is
    clean, and records appended since stay unstaged), waiting out a person's index.lock."""
    import time

    info = "".join(
        f"0 {ZERO}\t{p}\n" if no == ZERO else f"{mode} {no}\t{p}\n" for p, _, no, mode in rows
    )
    delay, deadline = 0.01, time.monotonic() + 10
    while True:
        try:
            git(root, "update-index", "--index-info", stdin=info)
            return
        except GitError as exc:
            if "index.lock" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def save(root: Path, conflicts: list[Conflict], where: Path) -> None:
    """Write each conflict's losing version under ``where`` (``.aof/conflicts/<stamp>/``) at
    its path, and note where in ``Conflict.saved``."""
    blobs = _blobs(root, {c.loser[1] for c in conflicts if c.loser})
    from ..files.atomic import write_bytes

    for c in conflicts:
        if c.loser is None:
            continue
        target = where / c.path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, blobs[c.loser[1]])
        c.saved = target.relative_to(root).as_posix()


def hand_commits(root: Path, old: str | None, theirs: str) -> dict[str, str]:
    """Paths changed by incoming commits that carry no audit record (a person's ``git
    commit`` of a hand edit, not aof's), each with the author of its newest such change;
    paths a newer audited commit touched again are left out (aof recorded those). Merge
    commits are not looked at: their changes are their parents'."""
    span = f"{old}..{theirs}" if old else theirs
    out = git(
        root, "log", "--no-merges", "--no-renames", "-z", "--name-only", "--format=%x01%an", span
    )
    seen: set[str] = set()
    found: dict[str, str] = {}
    for block in out.split("\x01")[1:]:
        lines = [x.strip("\n") for x in block.split("\0")]
        head, _, first = lines[0].partition("\n")
        paths = [p for p in [first, *lines[1:]] if p]
        if any(p.startswith("audit/") for p in paths):
            seen.update(paths)
            continue
        for p in paths:
            if p not in seen and p not in found:
                found[p] = head
        seen.update(paths)
    return found


def read_at(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` in ``commit``, or None when it has no such file."""
    proc = subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{path}"], cwd=root, capture_output=True
    )
    return proc.stdout if proc.returncode == 0 else None
