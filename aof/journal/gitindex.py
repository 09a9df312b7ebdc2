"""The person's git index, kept in step with aof's commits.

aof commits with ``git fast-import``, which never reads or writes the index; so that
``git status`` stays clean, each commit also stages its paths with ``git update-index``
(only those paths: a person's own staged work is never swept into an aof commit).

At 100,000 tracked files both take ~30 ms (update-index reads the whole index; fast-import
reads and rewrites the trees of the directories written into), so the refresh runs
alongside the commit instead of after it: it stages the files as they are on disk, which is
what the commit records. A commit that fails after all has its paths' index entries put
back as they are in HEAD. (A person's own ``git commit`` made in the milliseconds while both
run may take aof's new paths along, aof's commit then adding nothing; one made between the
two may record them as deleted, as it could when they ran one after the other.) Another git
holding ``.git/index.lock`` (a person's ``git add``) is waited out for up to
:data:`INDEX_WAIT_S`; past that the commit stands and the paths are
kept in ``.aof/index-behind`` for the next commit to stage.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .. import layout
from ..errors import GitError

INDEX_WAIT_S = 3.0  # how long a commit waits for another git's index.lock
SPLIT_MAX = 256 * 1024  # bytes of the split part of git's index before it is shared again


class Git(Protocol):
    """What a refresh needs of the committer (:class:`aof.journal.git.Committer`)."""

    root: Path
    warn: Callable[[str], None]

    def run(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]: ...

    def start(self, *args: str) -> subprocess.Popen[bytes]: ...


class IndexRefresh:
    """Stage ``rels`` (and any paths an earlier commit could not) in the person's index,
    started at once and finished with :meth:`finish` once the commit is made or has failed."""

    def __init__(self, committer: Git, rels: Sequence[str]) -> None:
        self.committer = committer
        self.rels = list(rels)
        self.behind = layout.index_behind(committer.root)
        try:
            self.earlier = set(self.behind.read_text(encoding="utf-8").split("\n")) - {""}
        except OSError:
            self.earlier = set()
        self.todo = sorted(set(rels) | self.earlier)
        self.proc: subprocess.Popen[bytes] = committer.start(*self._argv())

    def _argv(self) -> tuple[str, ...]:
        return ("update-index", "--add", "--remove", "--", *self.todo)

    def finish(self, committed: bool) -> None:
        """Wait for the refresh. After a commit: retry while another git holds the index's
        lock, then keep what is still behind for the next commit (GitError when git
        refuses outright). Without one: put the paths' entries back as HEAD has them."""
        first = self._wait()
        if not committed:
            if first[0] == 0:
                self.committer.run("reset", "-q", "--", *self.rels, check=False)
            return
        delay = 0.01
        deadline = time.monotonic() + INDEX_WAIT_S
        code, err = first
        while True:
            if code == 0:
                if self.earlier:
                    self.behind.unlink(missing_ok=True)
                self._reshare()
                return
            if b"index.lock" not in err:
                raise GitError(
                    "committed, but could not refresh git's index: "
                    f"{err.decode('utf-8', 'replace').strip()[-400:]}; `git reset -q` repairs it"
                )
            if time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            proc = self.committer.run(*self._argv(), check=False)
            code, err = proc.returncode, proc.stderr
        from ..files.atomic import write_text

        write_text(self.behind, "".join(f"{rel}\n" for rel in self.todo))
        self.committer.warn(
            f"committed, but git's index is behind for {len(self.todo)} path(s): another git "
            f"held .git/index.lock for {INDEX_WAIT_S:g}s (a git that crashed leaves it "
            "behind: remove it); the next commit stages them, or `git reset -q`"
        )

    def _wait(self) -> tuple[int, bytes]:
        _out, err = self.proc.communicate()
        return self.proc.returncode, err

    def _reshare(self) -> None:
        """Keep the split part of git's index (``aof init`` turns the split index on) small:
        ``update-index`` does not always write a new shared index when it should, and at
        100,000 files a split part of tens of thousands of entries made every refresh 25 ms
        instead of 8. Past :data:`SPLIT_MAX` bytes it is shared again (one command)."""
        git_dir = self.committer.root / ".git"
        try:
            if os.stat(git_dir / "index").st_size <= SPLIT_MAX:
                return
            names = os.listdir(git_dir)
        except OSError:
            return
        if any(name.startswith("sharedindex.") for name in names):  # not a person's own setup
            share = ("-c", "splitIndex.maxPercentChange=0", "update-index", "--split-index")
            self.committer.run(*share, check=False)
