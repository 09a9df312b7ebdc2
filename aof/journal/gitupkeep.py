"""The fleet root's git upkeep: ``git gc --auto``, in the background, once an hour.

aof's own git commands run with automatic gc off, so that a commit never waits for a
repack. But a fleet root makes thousands of small commits a day (loose objects) and a long
run of batched ones (a pack each), and nobody else may ever run git there: object lookups,
and so every commit, would slow down as the history grows. The daemon therefore starts
``git gc --auto`` itself, at most once per :data:`EVERY_S`, as a process of its own that
the tick never waits for. git decides whether there is anything to do (past ``gc.auto``
loose objects, 6,700 by default, or ``gc.autoPackLimit`` packs, 50), which costs a glance
at one object directory when there is not; gc is safe while other git commands run.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

EVERY_S = 3600.0


class GitUpkeep:
    """Start ``git gc --auto`` on ``root`` when due (see the module docstring)."""

    def __init__(self, root: Path, every_s: float = EVERY_S) -> None:
        self.root = root
        self.every_s = every_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.last = float("-inf")

    def poke(self) -> bool:
        """Start a gc when one is due and none is running; whether one was started."""
        if self.proc is not None and self.proc.poll() is None:
            return False
        now = time.monotonic()
        if now - self.last < self.every_s:
            return False
        self.last = now
        try:
            self.proc = subprocess.Popen(
                ["git", "-c", "core.hooksPath=/dev/null", "gc", "--auto", "--quiet"],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a SIGINT to the daemon's terminal is not for it
            )
        except OSError:
            return False
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` for a gc that is running (the daemon, as it stops: git
        detaches a long gc, so what it waits for is brief)."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return
