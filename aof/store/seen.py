"""What a long-lived process already read of ``tasks/``, kept while nothing says it changed.

A listing stats every file it shows, because a person may edit a file in place (the file keeps
its inode; only its size or mtime tells). A daemon that watches the fleet root hears of such
edits, so between two full passes it may skip the stat of a file it read before when:

- the directory entry still has the inode it had (every write aof makes, and an editor's
  save through a temporary file, gives a file a new inode; a rename keeps both inode and
  content), and
- no change to that path was reported since (:meth:`SeenFiles.changed`).

Reports can be lost (an inotify queue overflows), so every ``verify_s`` the whole memo is
dropped and the next listing stats every file again: a lost report delays what a listing
sees by at most that long, and costs nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

Memo = dict[str, tuple[int, dict[str, Any]]]  # file name -> (inode, summary)


class SeenFiles:
    """Per directory of ``tasks/`` (its cache key: ``ready``, ``done-2026-11``): the summary
    of each file read, with the inode it was read at."""

    def __init__(self, verify_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.verify_s = verify_s
        self._monotonic = monotonic
        self._dirs: dict[str, Memo] = {}
        self._since = monotonic()
        self._reports = 0  # reports taken so far (a listing that overlapped one keeps nothing)

    def memo(self, key: str) -> tuple[Memo, int]:
        """What was read in directory ``key`` (empty once a full pass is due), and the count
        of reports to hand back to :meth:`keep`."""
        if self._monotonic() - self._since >= self.verify_s:
            self._dirs.clear()
            self._since = self._monotonic()
        return self._dirs.get(key, {}), self._reports

    def keep(self, key: str, memo: Memo, reports: int) -> None:
        """What a listing of directory ``key`` read now (replaces what was kept); dropped when
        a report came in while it listed (another thread's), since it may predate that."""
        if reports == self._reports:
            self._dirs[key] = memo
        else:
            self._dirs.pop(key, None)

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
            memo = self._dirs.get("-".join(parts[1:-1]))
            if memo is not None:
                memo.pop(parts[-1], None)

    def forget(self) -> None:
        """Forget everything (the next listing is a full one)."""
        self._dirs.clear()
