"""The committer: every aof change becomes a git commit of exactly the paths it touched.

Measured (docs/decisions.md D2, ``make bench``) at 10,000 tracked files, one-file commits:
GitPython 271 ms (and 77 ms to import; its index writer sweeps other processes' staged files
into its commits), ``git add && git commit -- paths`` 35 ms, the plumbing chain (``update-index``
into a private index, ``write-tree``, ``commit-tree``, ``update-ref``) 25 ms, and
``git fast-import`` ~10 ms. So a commit is:

1. under ``.aof/locks/git.lock`` (serialises aof processes);
2. HEAD's branch and commit read from the ref files (no process);
3. one ``git fast-import`` fed ``from <head>``, then ``M``/``D`` lines carrying the files'
   bytes exactly as they are on disk (audit files read under the audit lock, so never a
   half-written line). fast-import refuses to move the branch unless the new commit
   descends from the branch's current tip: a compare-and-swap, retried if a person committed
   meanwhile. Small imports are loose objects (``fastimport.unpackLimit``) at zlib's
   fastest level (``git gc`` packs them at git's own later);
4. ``git update-index``, started alongside the fast-import, stages those paths alone in the
   user's index, waiting out a person's ``index.lock``, so ``git status`` is clean and a
   person's own staged work is never swept into an aof commit (:mod:`.gitindex`). A lock
   held past a few seconds (a git that crashed leaves one) does not undo the commit: the
   paths are kept in ``.aof/index-behind`` and refreshed by the next commit.

Batching: inside ``with committer.batch(message, author)`` (the daemon's tick) every commit
of this process (the daemon dispatches from a few threads) is collected and made as one
commit at the end, its message listing each change. With ``git.commit: batch``, processes
that are not the daemon append their changes to ``.aof/pending-commits.jsonl`` instead of
committing; the daemon commits them at its next tick (``flush_pending``), so a busy fleet
makes one commit per tick, not one per change.

Nothing is followed into a commit: every path is normalised and checked to lie inside the
root with no link on the way (``..``, absolute paths elsewhere and paths through a symlinked
directory are refused, also when read back from ``.aof/pending-commits.jsonl``), then
``lstat``-ed: a symlink is committed as a link (mode 120000), as git itself does, and a FIFO,
device or directory is left out.

Hooks do not run for aof's commits. The author is the actor (``agent:coder-1``); the committer
is ``git.committer`` from aof.yaml, else ``aof <aof@localhost>``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import GitError
from ..files.locks import Lock, lock_for
from ..files.safefs import safe_rel
from .audit import Actor
from .gitindex import IndexRefresh

if TYPE_CHECKING:
    from ..clock import Clock

DEFAULT_COMMITTER = {"name": "aof", "email": "aof@localhost"}
GIT = ("git", "-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null")


def run(
    repo: Path,
    *args: str,
    stdin: str | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``git -C repo ARGS`` with text output: the one git runner for repositories that are not
    the fleet root's own commits (project repositories, worktrees, hooks). GitError naming the
    command when ``check`` and git fails."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:2])} failed: {detail[-1] if detail else proc.returncode}"
        )
    return proc


class Committer:
    """Commit paths of one fleet root, serialised across processes."""

    def __init__(
        self,
        root: Path,
        *,
        enabled: bool = True,
        committer: dict[str, str] | None = None,
        audit_lock: Lock | None = None,
        clock: Clock | None = None,
        deferred: bool = False,
    ) -> None:
        self.root = root
        self.enabled = enabled
        self.deferred = deferred  # git.commit: batch (the daemon sets it off for itself)
        self._batch: Batch | None = None
        self._batch_lock = threading.Lock()
        self.pending_path = layout.pending_commits(root)
        self.committer = committer or DEFAULT_COMMITTER
        self.audit_lock = audit_lock
        self.clock = clock
        self.lock: Lock = lock_for(layout.lock(root, "git.lock"), timeout=120)
        self.refused: list[str] = []  # paths the last flush_pending refused to commit
        # What a commit that could not refresh git's index says (the daemon logs it).
        self.warn: Callable[[str], None] = _log_warning

    def run(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git on the fleet root (hooks and automatic gc off; bytes out); GitError when
        ``check`` and git fails."""
        proc = subprocess.run(
            [*GIT, *args], cwd=self.root, env=_env(), input=stdin, capture_output=True
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args[:2])} failed: {_err(proc)}")
        return proc

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start git on the fleet root as :meth:`run` runs it, without waiting (output piped,
        no input)."""
        return subprocess.Popen(
            [*GIT, *args],
            cwd=self.root,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # --- reading refs without a process ---------------------------------------------------

    def _dirs(self) -> tuple[Path, Path]:
        """(git dir, common dir) of the fleet root; worktrees keep refs in the common dir."""
        dot = self.root / ".git"
        git_dir = dot
        if dot.is_file():
            text = dot.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                raise GitError(f"{dot}: not a gitdir file")
            git_dir = (self.root / text[7:].strip()).resolve()
        common = git_dir
        if (git_dir / "commondir").is_file():
            common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
        return git_dir, common

    def branch_and_head(self) -> tuple[str, str | None]:
        """The branch HEAD points to and its commit (None before the first commit)."""
        try:
            git_dir, common = self._dirs()
            head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
            if not head.startswith("ref: ") or (common / "reftable").exists():
                raise ValueError("detached HEAD or reftable: ask git")
            ref = head[5:]
            try:
                return ref, (common / ref).read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                pass
            try:
                packed = (common / "packed-refs").read_text(encoding="utf-8")
            except FileNotFoundError:
                return ref, None
            for line in packed.splitlines():
                if line.endswith(" " + ref) and not line.startswith(("#", "^")):
                    return ref, line.split(" ", 1)[0]
            return ref, None
        except (OSError, ValueError):
            proc = self.run("symbolic-ref", "-q", "HEAD", check=False)
            if proc.returncode != 0:
                raise GitError("HEAD is detached: check out a branch in the fleet root") from None
            ref = proc.stdout.decode().strip()
            sha = self.run("rev-parse", "-q", "--verify", "HEAD", check=False).stdout
            return ref, sha.decode().strip() or None

    # --- committing ---------------------------------------------------------------------

    def commit(self, paths: Iterable[Path | str], message: str, author: Actor) -> str | None:
        """Commit exactly ``paths`` as they are on disk (added, changed or deleted).

        Return the new commit id (None when commits are off). GitError if git refuses.
        """
        if not self.enabled:
            return None
        rels = sorted({self._rel(p) for p in paths})
        if not rels:
            return None
        with self._batch_lock:
            batch = self._batch
            if batch is not None:
                batch.paths.update(rels)
                batch.messages.append(message)
                return None
        if self.deferred:
            self._defer(rels, message, author)
            return None
        return self._commit_now(rels, message, author)

    def _commit_now(self, rels: Sequence[str], message: str, author: Actor) -> str | None:
        rels = [rel for rel in rels if _entry_kind(self.root / rel) != "other"]
        if not rels:
            return None
        with self.lock:
            refresh = IndexRefresh(self, rels)  # runs alongside the commit
            sha = None
            try:
                for _ in range(20):
                    sha = self._import(rels, message, author)
                    if sha is not None:
                        return sha
                    time.sleep(0.01)
                raise GitError("the branch kept moving while aof tried to commit; try again")
            finally:
                refresh.finish(committed=sha is not None)

    @contextmanager
    def batch(self, message: str, author: Actor) -> Iterator[Batch]:
        """Collect every commit of this process inside the block into one commit made at its
        end (also when the block raises: what was written is committed)."""
        if self._batch is not None:
            yield self._batch  # nested: the outer batch commits
            return
        batch = Batch()
        self._batch = batch
        try:
            yield batch
        finally:
            with self._batch_lock:
                self._batch = None
            if batch.paths and self.enabled:
                batch.commit = self._commit_now(sorted(batch.paths), batch.subject(message), author)

    def _defer(self, rels: Sequence[str], message: str, author: Actor) -> None:
        line = json.dumps({"paths": list(rels), "message": message, "author": str(author)})
        self.pending_path.parent.mkdir(parents=True, exist_ok=True)
        with (
            lock_for(layout.lock(self.root, "pending.lock")),
            open(self.pending_path, "a", encoding="utf-8") as f,
        ):
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def pending(self) -> list[dict[str, Any]]:
        """Changes waiting for the daemon's next commit (``git.commit: batch``)."""
        try:
            text = self.pending_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash: its paths are swept up as leftovers
        return out

    def flush_pending(self, author: Actor) -> str | None:
        """Commit every deferred change as one commit; None when there was none."""
        with lock_for(layout.lock(self.root, "pending.lock")):
            items = self.pending()
            if not items:
                return None
            batch = Batch()
            self.refused = []
            for item in items:
                for p in item.get("paths") or []:
                    rel = safe_rel(self.root, str(p))
                    if rel is None:
                        self.refused.append(str(p))  # never committed, never crashes a tick
                    else:
                        batch.paths.add(rel)
                batch.messages.append(str(item.get("message")))
            sha = None
            if batch.paths and self.enabled:
                sha = self._commit_now(sorted(batch.paths), batch.subject("deferred"), author)
            self.pending_path.unlink(missing_ok=True)
            return sha

    def _rel(self, path: Path | str) -> str:
        rel = safe_rel(self.root, path)
        if rel is None:
            raise GitError(
                f"refusing to commit path {str(path)!r}: not a normalised path inside the "
                "fleet root (no '..', no link on the way)"
            )
        return rel

    def _stream(
        self, rels: Sequence[str], message: str, author: Actor, ref: str, head: str | None
    ) -> bytes:
        now = int(self.clock.now().timestamp()) if self.clock else int(time.time())
        msg = message.encode("utf-8") + b"\n"
        name, email = self.committer["name"], self.committer["email"]
        parts = [
            f"commit {ref}\nmark :1\n".encode(),
            f"author {author} <{author.id}@{author.kind}.aof> {now} +0000\n".encode(),
            f"committer {name} <{email}> {now} +0000\n".encode(),
            f"data {len(msg)}\n".encode(),
            msg,
        ]
        if head:
            parts.append(f"from {head}\n".encode())
        for rel in rels:
            if rel.startswith("audit/") and self.audit_lock is not None:
                with self.audit_lock:  # never a half-written audit line
                    entry = _entry(self.root / rel)
            else:
                entry = _entry(self.root / rel)
            if entry is None:
                parts.append(f"D {rel}\n".encode())
            elif entry:
                mode, data = entry
                parts.append(f"M {mode} inline {rel}\ndata {len(data)}\n".encode())
                parts.append(data + b"\n")
        parts.append(b"get-mark :1\ndone\n")
        return b"".join(parts)

    def _import(self, rels: Sequence[str], message: str, author: Actor) -> str | None:
        """One fast-import; the new commit id, or None if the branch moved (retry)."""
        ref, head = self.branch_and_head()
        stream = self._stream(rels, message, author, ref, head)
        proc = self.run(
            "-c",
            "fastimport.unpackLimit=1000",
            "-c",
            "core.compression=1",  # zlib's fastest: gc repacks these at git's own level
            "fast-import",
            "--quiet",
            "--date-format=raw",
            "--done",
            stdin=stream,
            check=False,
        )
        if proc.returncode != 0:
            if b"Not updating" in proc.stderr:
                return None  # a person moved the branch meanwhile: compare-and-swap failed
            raise GitError(f"git fast-import failed: {_err(proc)}")
        new = proc.stdout.decode().strip()
        if len(new) not in (40, 64):
            raise GitError(f"git fast-import gave no commit id: {_err(proc)}")
        return new

    # --- reading history ------------------------------------------------------------------

    def log(self, paths: Sequence[str], limit: int = 50) -> list[dict[str, str]]:
        """Commits touching ``paths``, newest first."""
        if not paths:
            return []
        fmt = "%H%x1f%an%x1f%aI%x1f%s"
        proc = self.run("log", f"-n{limit}", f"--format={fmt}", "--", *paths, check=False)
        out = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            sha, name, when, subject = [*line.split("\x1f"), "", "", "", ""][:4]
            out.append({"commit": sha, "author": name, "date": when, "subject": subject})
        return out

    def dirty(self, pathspecs: Sequence[str] = ("tasks", "audit")) -> list[str]:
        """Paths under ``pathspecs`` that differ from HEAD or are untracked."""
        proc = self.run(
            "status",
            "--porcelain",
            "-z",
            "--no-renames",
            "--untracked-files=all",
            "--",
            *pathspecs,
            check=False,
        )
        return [
            item[3:] for item in proc.stdout.decode("utf-8", "replace").split("\0") if len(item) > 3
        ]


class Batch:
    """Paths and messages collected for one commit."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.messages: list[str] = []
        self.commit: str | None = None
        self.trailers: dict[str, str] = {}  # "Key: value" lines closing the message

    def subject(self, what: str) -> str:
        n = len(self.messages)
        if n == 1:
            text = self.messages[0]
        else:
            listed = "\n".join(f"- {m}" for m in self.messages[:500])
            more = f"\n- ... and {n - 500} more" if n > 500 else ""
            text = f"{what}: {n} changes\n\n{listed}{more}"
        if self.trailers:
            text += "\n\n" + "\n".join(f"{k}: {v}" for k, v in self.trailers.items())
        return text


def _entry_kind(path: Path) -> str:
    """ "file", "link", "gone" or "other" (a FIFO, device or directory: never committed)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_ISREG(mode) else "other"


def _entry(path: Path) -> tuple[str, bytes] | tuple[()] | None:
    """What to commit for ``path``: (mode, bytes); None when it is gone (a deletion); ``()``
    when it is neither a file nor a link (a FIFO, a device, a directory: left out).

    Nothing is followed: a symlink is committed as a link (mode 120000, its target as the
    blob), exactly as git does, never as the contents of what it points to.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return "120000", os.fsencode(os.readlink(path))
    if not stat.S_ISREG(st.st_mode):
        return ()
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a link since the lstat
            return _entry(path)
        raise GitError(f"{path}: cannot be read for the commit: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ()
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return "100644", b"".join(chunks)
    finally:
        os.close(fd)


def _env() -> dict[str, str]:
    """The environment of aof's git commands: the user's, less a GIT_INDEX_FILE that would
    point them at another index."""
    env = dict(os.environ)
    env.pop("GIT_INDEX_FILE", None)
    return env


def _err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode("utf-8", "replace").strip()[-400:]


def _log_warning(text: str) -> None:
    """The default :attr:`Committer.warn`: the ``aof.git`` logger (imported when needed)."""
    import logging

    logging.getLogger("aof.git").warning(text)
