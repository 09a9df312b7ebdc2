"""Cross-process locks on ``flock(2)``.

Why not the filelock package: it costs 22 ms to import (a third of a CLI call's budget) and
waits by sleeping 50 ms between tries, which throttles 8 processes racing for one lock. This is
the part of it aof needs: an exclusive ``flock`` on a file under ``.aof/locks/``, waited for
with short exponential back-off, released by the kernel if the holder dies (no stale locks
after ``kill -9``).

:func:`lock_for` hands out one :class:`Lock` per path per process, and a Lock is re-entrant
for the thread holding it; so taking the same lock twice in one process nests instead of
deadlocking on itself (a second ``flock`` on a new descriptor would block), and other threads
wait their turn.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from ..errors import ConcurrentModification


class Lock:
    """An exclusive advisory lock on ``path`` (created if missing)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0
        self._local = threading.RLock()

    def acquire(self) -> None:
        if not self._local.acquire(timeout=self.timeout):
            raise ConcurrentModification(f"{self.path}: lock held by another thread")
        if self._depth:
            self._depth += 1
            return
        try:
            self._acquire_file()
        except BaseException:
            self._local.release()
            raise

    def _acquire_file(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ConcurrentModification(
                    f"{self.path}: lock still held by another process after {self.timeout:g}s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._local.release()

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


_REGISTRY: dict[tuple[str, float], Lock] = {}
_REGISTRY_GUARD = threading.Lock()


def lock_for(path: Path, timeout: float = 30.0) -> Lock:
    """The process-wide :class:`Lock` for ``path`` (the same object every time)."""
    key = (str(path), timeout)
    with _REGISTRY_GUARD:
        lock = _REGISTRY.get(key)
        if lock is None:
            lock = _REGISTRY[key] = Lock(path, timeout)
        return lock
