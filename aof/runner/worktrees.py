"""Worktrees: each run works in a git worktree of its project, on the task's branch.

The worktree of task ``t-abc123`` is ``<runner.worktrees_dir>/t-abc123`` (default
``.aof/worktrees/`` in the fleet root; an absolute path puts them on another disk), on
branch ``aof/t-abc123`` (or the task's ``branch`` field, as ``aof agent spawn BRANCH``
sets), created from the project's default branch. A later attempt reuses the worktree and
branch, so work a failed attempt committed is not lost.

Made on first use: the project's ``setup`` commands run in it (``--quick`` skips them; output
in the run's ``setup.log``) and its ``credential_files`` (paths relative to the project
root, for example ``.env``) are copied in. Removed when the task is done or cancelled, never
while a process is alive in it (checked by each process's working directory and by the
run records); the branch, and so the work, stays. ``aof worktree list|prune``.

aof removes only worktrees it made: each one it makes gets a marker, ``aof-worktree``, in
its private git directory (``<repo>/.git/worktrees/<name>/``, never in the work tree, so no
``git add -A`` commits it) naming the worktree's path. A directory under
``runner.worktrees_dir`` without a marker that names it (a directory of your own, a
worktree made by hand) is listed as not aof's and never removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import AofError, ValidationError
from ..journal.git import run as run_git
from ..journal.repos import check_credential_path
from ..model.branches import BRANCH_RE
from ..model.task import ID_RE

MARKER = "aof-worktree"  # in the worktree's git directory: "made by aof, for <path>"


class WorktreeError(AofError):
    """A worktree could not be made, set up or removed (names the command and its output)."""


@dataclass
class Worktree:
    task_id: str
    path: Path
    repo: Path | None  # the project repository it belongs to (None: unknown or gone)
    branch: str | None
    ours: bool = False  # made by aof (its marker names this path)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "path": str(self.path),
            "repo": str(self.repo) if self.repo else None,
            "branch": self.branch,
            "ours": self.ours,
        }


def worktrees_dir(root: Path, config: dict[str, Any]) -> Path:
    configured = (config.get("runner") or {}).get("worktrees_dir")
    if not configured:
        return layout.worktrees(root)
    path = Path(str(configured)).expanduser()
    return path if path.is_absolute() else root / path


def ensure(path: Path, repo: Path, branch: str, base: str) -> bool:
    """Make (or reuse) the worktree at ``path`` of ``repo`` on ``branch`` (from ``base``);
    True when it was made now. WorktreeError naming the git command's output if not."""
    if not BRANCH_RE.match(branch):
        raise ValidationError(f"branch: {branch!r} is not a branch name aof accepts")
    if not BRANCH_RE.match(base):
        raise ValidationError(f"default_branch: {base!r} is not a branch name aof accepts")
    if (path / ".git").is_file():
        _mark(path)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    known = run_git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    exists = known.returncode == 0
    # Positionals after `--`: neither a path nor a branch is ever read as an option.
    args = ["worktree", "add", "--", str(path), branch] if exists else [
        "worktree", "add", f"-b{branch}", "--", str(path), base
    ]  # fmt: skip
    proc = run_git(repo, *args)
    if proc.returncode != 0 and "already registered" in proc.stderr + proc.stdout:
        run_git(repo, "worktree", "prune")  # a worktree removed by hand: forget it, then retry
        proc = run_git(repo, *args)
    if proc.returncode != 0:
        raise WorktreeError(
            f"git -C {repo} {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()[-400:]}"
        )
    _mark(path)
    return True


def _gitdir(path: Path) -> Path | None:
    """The private git directory a worktree's ``.git`` file points to (not following a
    ``.git`` that is a link or a directory)."""
    try:
        if not (path / ".git").is_file() or (path / ".git").is_symlink():
            return None
        text = (path / ".git").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text.split("gitdir:", 1)[1].strip()) if text.startswith("gitdir:") else None


def _mark(path: Path) -> None:
    """Write the marker that says aof made the worktree at ``path``."""
    gitdir = _gitdir(path)
    if gitdir is not None and gitdir.is_dir():
        (gitdir / MARKER).write_text(f"{path.resolve()}\n", encoding="utf-8")


def _ours(path: Path, gitdir: Path | None) -> bool:
    """Whether aof made the worktree at ``path``: its name is a task id, its git directory
    is a registered worktree of a repository, pointing back at it, and aof's marker there
    names this very path."""
    if gitdir is None or gitdir.parent.name != "worktrees" or not ID_RE.fullmatch(path.name):
        return False
    try:
        back = Path((gitdir / "gitdir").read_text(encoding="utf-8").strip())
        marked = Path((gitdir / MARKER).read_text(encoding="utf-8").strip())
    except OSError:
        return False
    here = path.resolve()
    return back.resolve() == here / ".git" and marked == here


def setup(path: Path, commands: list[str], log: Path, env: dict[str, str]) -> None:
    """Run the project's setup commands in a new worktree; WorktreeError on the first failure."""
    with open(log, "ab") as out:
        for command in commands:
            out.write(f"$ {command}\n".encode())
            out.flush()
            code = subprocess.run(
                command, shell=True, cwd=path, stdout=out, stderr=out, env={**os.environ, **env}
            ).returncode
            if code != 0:
                raise WorktreeError(
                    f"setup command {command!r} exited with {code} (output in {log})"
                )


def copy_credentials(path: Path, repo: Path, files: list[str]) -> list[str]:
    """Copy the project's credential files into the worktree (mode 0600) and list each in
    the worktree's git ``info/exclude``, so ``git add -A`` leaves them out; the ones copied.

    A destination that is, or passes through, a symbolic link (a link a branch can carry)
    is refused with WorktreeError: the secret is never written outside the worktree.
    """
    copied = []
    for rel in files:
        check_credential_path(rel)
        source = repo / rel
        if not source.is_file():
            continue
        _write_inside(path, rel, source.read_bytes())
        copied.append(rel)
    if copied:
        exclude(path, copied)
    return copied


def _write_inside(path: Path, rel: str, data: bytes) -> None:
    """Write ``data`` to ``path/rel``, making its directories, never through a link."""
    top = os.path.realpath(path)
    current = Path(top)
    parts = Path(rel).parts
    for i, part in enumerate(parts):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if i < len(parts) - 1:
                os.mkdir(current, 0o700)
            continue
        import stat

        if stat.S_ISLNK(st.st_mode):
            raise WorktreeError(
                f"credential_files: {rel!r}: {current} is a symbolic link in the worktree "
                "(the branch carries it); the credential is not copied"
            )
    if not os.path.realpath(current.parent).startswith(top + os.sep) and (
        os.path.realpath(current.parent) != top
    ):
        raise WorktreeError(f"credential_files: {rel!r} leads outside the worktree {path}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(current, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def exclude(path: Path, files: list[str]) -> None:
    """List ``files`` (worktree-relative) in the worktree's git ``info/exclude``."""
    proc = run_git(path, "rev-parse", "--git-path", "info/exclude")
    if proc.returncode != 0:
        raise WorktreeError(f"git rev-parse --git-path info/exclude in {path}: {proc.stderr}")
    target = Path(proc.stdout.strip())
    target = target if target.is_absolute() else path / target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        have = set(target.read_text(encoding="utf-8").splitlines())
    except FileNotFoundError:
        have = set()
    lines = [f"/{Path(rel).as_posix()}" for rel in files]
    missing = [line for line in lines if line not in have]
    if missing:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write("".join(f"{line}\n" for line in missing))


def read(path: Path) -> Worktree:
    """What a worktree directory says about itself (its ``.git`` file and HEAD), no git call."""
    repo = branch = None
    gitdir = _gitdir(path)
    if gitdir is not None:
        # <repo>/.git/worktrees/<name>
        repo = gitdir.parent.parent.parent if gitdir.parent.name == "worktrees" else None
        try:
            head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
            branch = head.removeprefix("ref: refs/heads/") if head.startswith("ref:") else head
        except OSError:
            pass
    return Worktree(path.name, path, repo, branch, _ours(path, gitdir))


def scan(directory: Path) -> list[Worktree]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [
        read(directory / n) for n in names if not n.startswith(".") and (directory / n).is_dir()
    ]


def live_pids(paths: list[Path]) -> dict[Path, list[int]]:
    """Processes whose working directory is inside one of ``paths`` (by path)."""
    import psutil

    found: dict[Path, list[int]] = {p: [] for p in paths}
    prefixes = [(p, str(p.resolve())) for p in paths]
    for proc in psutil.process_iter(["pid", "cwd"]):
        cwd = proc.info.get("cwd")
        if not cwd:
            continue
        for path, prefix in prefixes:
            if cwd == prefix or cwd.startswith(prefix + os.sep):
                found[path].append(proc.info["pid"])
    return found


def remove(tree: Worktree) -> None:
    """Remove a worktree aof made (its branch stays); WorktreeError if it is not one of
    aof's, or git refuses."""
    if not tree.ours:
        raise WorktreeError(f"{tree.path}: not a worktree aof made; left as it is")
    if tree.repo is not None and tree.repo.exists():
        proc = run_git(tree.repo, "worktree", "remove", "--force", str(tree.path))
        if proc.returncode == 0:
            return
        if tree.path.exists() and "is not a working tree" not in proc.stderr:
            raise WorktreeError(
                f"git worktree remove {tree.path} failed: {proc.stderr.strip()[-300:]}"
            )
    shutil.rmtree(tree.path, ignore_errors=True)
    if tree.repo is not None and tree.repo.exists():
        run_git(tree.repo, "worktree", "prune")
