"""What a long-lived process already read of ``tasks/``, kept while nothing says it changed.

A listing stats every file it shows, because a person may edit a file in place (the file keeps
its inode; only its size or mtime tells). A process that watches the fleet root (the daemon,
the command server) hears of such edits, so between two full passes it may skip the stat of a
file it read before when:

- the directory entry still has the inode it had (an editor's save through a temporary file
  gives a file a new inode; a rename keeps both inode and content), and
- no change to that path was reported since (:meth:`SeenFiles.changed`).

A freed inode number is soon given to the next new file (ext4 does so at once), so a file
replaced, or a task that left a directory and came back, may show its old inode with new
content: the inode alone never proves a file unchanged. Every change this process makes is
reported by its pipeline before it is recorded; other processes' changes by the watcher.

A directory whose own stamp (inode, mtime) is what it was when it was last listed, and in
which nothing was reported since, holds the same files (creating, removing or renaming a file
in it changes its mtime): its rows are given as they were, without listing it again.

Reports can be lost (an inotify queue overflows), so every ``verify_s`` the whole memo is
dropped and the next listing stats every file again: a lost report delays what a listing
sees by at most that long, and costs nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..files.stampcache import fs_now_ns, settled

Memo = dict[str, tuple[int, dict[str, Any]]]  # file name -> (inode, summary)
DirStamp = tuple[int, int]  # a directory's (inode, mtime_ns)


class SeenFiles:
    """Per directory of ``tasks/`` (its cache key: ``ready``, ``done-2026-11``): the summary
    of each file read, with the inode it was read at."""

    def __init__(
        self, root: Path, verify_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = root
        self.verify_s = verify_s
        self._monotonic = monotonic
        self._dirs: dict[str, Memo] = {}
        self._rows: dict[str, tuple[DirStamp, list[dict[str, Any]]]] = {}  # whole directories
        self._since = monotonic()
        self._reports = 0  # reports taken so far (a listing that overlapped one keeps nothing)

    def memo(self, key: str) -> tuple[Memo, int]:
        """What was read in directory ``key`` (empty once a full pass is due), and the count
        of reports to hand back to :meth:`keep`."""
        if self._monotonic() - self._since >= self.verify_s:
            self.forget()
            self._since = self._monotonic()
        return self._dirs.get(key, {}), self._reports

    @staticmethod
    def stamp(directory: Path) -> DirStamp | None:
        """A directory's (inode, mtime_ns), or None when it is not there."""
        try:
            st = os.stat(directory)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def rows(self, key: str, stamp: DirStamp) -> list[dict[str, Any]] | None:
        """The rows of directory ``key`` as last listed, if its stamp is still ``stamp`` and
        nothing in it was reported since (else None: list it)."""
        kept = self._rows.get(key)
        return kept[1] if kept is not None and kept[0] == stamp else None

    def keep(
        self,
        key: str,
        memo: Memo,
        reports: int,
        whole: tuple[DirStamp | None, list[dict[str, Any]]] | None = None,
    ) -> None:
        """What a listing of directory ``key`` read now (replaces what was kept), and
        ``whole``: the directory's stamp taken before it was listed and its rows, when every
        file in it was a valid task (kept only once the directory has settled: a change in
        the timestamp tick of its last one would leave its mtime as it was). Dropped when a
        report came in while it listed (another thread's), since it may predate that."""
        if reports == self._reports:
            self._dirs[key] = memo
            stamp = whole[0] if whole is not None else None
            if whole is not None and stamp is not None and settled(stamp[1], fs_now_ns(self.root)):
                self._rows[key] = (stamp, whole[1])
            else:
                self._rows.pop(key, None)
        else:
            self._dirs.pop(key, None)
            self._rows.pop(key, None)

    def changed(self, paths: Iterable[str]) -> None:
        """Forget the files at ``paths`` (relative to the fleet root, as a watcher reports
        them): the next listing stats them again."""
        paths = list(paths)
        if not paths:
            return
        self._reports += 1
        for rel in paths:
            parts = rel.split("/")
            if len(parts) < 3 or parts[0] != "tasks":
                continue
            key = "-".join(parts[1:-1])
            self._rows.pop(key, None)
            memo = self._dirs.get(key)
            if memo is not None:
                memo.pop(parts[-1], None)

    def forget(self) -> None:
        """Forget everything (the next listing is a full one)."""
        self._dirs.clear()
        self._rows.clear()
