"""The committer: every aof change becomes a git commit of exactly the paths it touched.

Measured on this machine's kind (docs/performance.md, bench/bench_git.py), at 10,000 files:
``git add && git commit -- paths`` 46 ms; GitPython 95-104 ms and it sweeps other processes'
staged files into its commits; pygit2 costs 72 ms just to import. The git CLI's plumbing is
the fastest correct option (~25 ms), so a commit is:

1. under ``.aof/locks/git.lock`` (serialises aof processes; humans are handled by step 4),
2. a private index ``.aof/git/index`` that mirrors HEAD (re-read with ``read-tree`` only
   when HEAD moved since aof last committed) gets ``update-index --add --remove -- paths``,
3. ``write-tree``, ``commit-tree`` with the actor as author, and a compare-and-swap
   ``update-ref HEAD new old`` (retried from step 2 if a human committed meanwhile),
4. the user's own index is refreshed for those paths only, retried while a human's git holds
   ``index.lock``. A human's unrelated staged work is never swept into an aof commit.

Commit hooks do not run for aof's commits (plumbing), like ``--no-verify``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .audit import Actor
from .errors import GitError
from .locks import Lock, lock_for

FALLBACK_COMMITTER = {"name": "aof", "email": "aof@localhost"}


class Committer:
    """Commit paths of one fleet root, serialised across processes."""

    def __init__(
        self,
        root: Path,
        *,
        enabled: bool = True,
        committer: dict[str, str] | None = None,
        audit_lock: Lock | None = None,
    ) -> None:
        self.root = root
        self.enabled = enabled
        self.committer = committer
        self.audit_lock = audit_lock
        self.state = root / ".aof" / "git"
        self.lock: Lock = lock_for(root / ".aof" / "locks" / "git.lock", timeout=120)

    def _git(
        self,
        *args: str,
        index: bool = False,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.pop("GIT_INDEX_FILE", None)
        if index:
            full_env["GIT_INDEX_FILE"] = str(self.state / "index")
        if env:
            full_env.update(env)
        proc = subprocess.run(
            ["git", "-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null", *args],
            cwd=self.root,
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args[:3])} failed: {proc.stderr.strip()[-400:]}")
        return proc

    def head(self) -> str | None:
        proc = self._git("rev-parse", "-q", "--verify", "HEAD", check=False)
        return proc.stdout.strip() or None

    def commit(self, paths: Iterable[Path | str], message: str, author: Actor) -> str | None:
        """Commit exactly ``paths`` (files added, changed or deleted); return the commit id."""
        if not self.enabled:
            return None
        rels = sorted({self._rel(p) for p in paths})
        if not rels:
            return None
        with self.lock:
            for _ in range(20):
                sha = self._try_commit(rels, message, author)
                if sha != "retry":
                    return sha
            raise GitError("HEAD kept moving while aof tried to commit; try again")
        return None

    def _rel(self, path: Path | str) -> str:
        p = Path(path)
        return (p.relative_to(self.root) if p.is_absolute() else p).as_posix()

    def _private_index(self) -> tuple[str | None, str | None]:
        """Make the private index equal HEAD; return (head commit, head tree)."""
        marker = self.state / "index.head"
        try:
            head, tree = marker.read_text(encoding="utf-8").split()
        except (OSError, ValueError):
            head = tree = ""
        current = self.head()
        if current and current == head and (self.state / "index").exists():
            marker.unlink()  # until this commit succeeds the index may differ from HEAD
            return head, tree
        self.state.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        if current:
            self._git("read-tree", current, index=True)
            tree = self._git("rev-parse", f"{current}^{{tree}}").stdout.strip()
            return current, tree
        self._git("read-tree", "--empty", index=True)
        return None, None

    def _try_commit(self, rels: Sequence[str], message: str, author: Actor) -> str | None:
        head, head_tree = self._private_index()
        if self.audit_lock is not None and any(r.startswith("audit/") for r in rels):
            with self.audit_lock:  # never stage a half-written audit line
                self._git("update-index", "--add", "--remove", "--", *rels, index=True)
        else:
            self._git("update-index", "--add", "--remove", "--", *rels, index=True)
        tree = self._git("write-tree", index=True).stdout.strip()
        if tree == head_tree:
            self._mark(head, tree)
            self._refresh_user_index(rels)
            return None
        env = {
            "GIT_AUTHOR_NAME": str(author),
            "GIT_AUTHOR_EMAIL": f"{author.id}@{author.kind}.aof",
        }
        if self.committer:
            env["GIT_COMMITTER_NAME"] = self.committer["name"]
            env["GIT_COMMITTER_EMAIL"] = self.committer["email"]
        args = ["commit-tree", tree, *(["-p", head] if head else [])]
        proc = self._git(*args, env=env, stdin=message + "\n", check=False)
        if (proc.returncode != 0 and "identity" in proc.stderr.lower()) or (
            proc.returncode != 0 and "ident" in proc.stderr.lower()
        ):
            env["GIT_COMMITTER_NAME"] = FALLBACK_COMMITTER["name"]
            env["GIT_COMMITTER_EMAIL"] = FALLBACK_COMMITTER["email"]
            proc = self._git(*args, env=env, stdin=message + "\n", check=False)
        if proc.returncode != 0:
            raise GitError(f"git commit-tree failed: {proc.stderr.strip()[-400:]}")
        sha = proc.stdout.strip()
        old = head or "0" * 40
        upd = self._git(
            "update-ref", "-m", f"aof: {message.splitlines()[0]}", "HEAD", sha, old, check=False
        )
        if upd.returncode != 0:
            return "retry"  # a human committed meanwhile: rebuild from the new HEAD
        self._mark(sha, tree)
        self._refresh_user_index(rels)
        return sha

    def _mark(self, head: str | None, tree: str | None) -> None:
        if head and tree:
            tmp = self.state / f".index.head.{os.getpid()}"
            tmp.write_text(f"{head} {tree}\n", encoding="utf-8")
            os.replace(tmp, self.state / "index.head")

    def _refresh_user_index(self, rels: Sequence[str]) -> None:
        delay = 0.01
        deadline = time.monotonic() + 10
        while True:
            proc = self._git("update-index", "--add", "--remove", "--", *rels, check=False)
            if proc.returncode == 0:
                return
            if "index.lock" not in proc.stderr or time.monotonic() > deadline:
                raise GitError(
                    "committed, but could not refresh git's index (another git holds "
                    f"index.lock?): {proc.stderr.strip()[-300:]}; `git reset -q` repairs it"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def log(self, paths: Sequence[str], limit: int = 50) -> list[dict[str, str]]:
        """Commits touching ``paths`` (following renames is not possible for several paths)."""
        if not paths:
            return []
        fmt = "%H%x1f%an%x1f%aI%x1f%s"
        proc = self._git("log", f"-n{limit}", f"--format={fmt}", "--", *paths, check=False)
        out = []
        for line in proc.stdout.splitlines():
            sha, author, when, subject = [*line.split("\x1f"), "", "", "", ""][:4]
            out.append({"commit": sha, "author": author, "date": when, "subject": subject})
        return out

    def dirty(self, pathspecs: Sequence[str] = ("tasks", "audit")) -> list[str]:
        """Paths under ``pathspecs`` that differ from HEAD or are untracked."""
        proc = self._git(
            "status", "--porcelain", "-z", "--untracked-files=all", "--", *pathspecs, check=False
        )
        out = []
        for item in proc.stdout.split("\0"):
            if len(item) > 3:
                out.append(item[3:])
        return out
