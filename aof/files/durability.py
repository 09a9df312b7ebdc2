"""Group fsync for the daemon's tick.

Every aof write is durable on its own: a temp file is fsynced before it is renamed into
place, the directory is fsynced after the rename, and an audit line is fsynced after it is
appended. A daemon tick that claims a hundred tasks would pay three fsyncs per claim (5 ms
each on a busy disk). Inside :func:`deferred`, directory and audit-file fsyncs are collected
instead and made once per path when the block ends, before the tick's commit, so the commit
never records a change the disk could still lose; file contents are still fsynced before
their rename, so no file can ever be seen half-written.

What a power loss inside a tick can cost is the tick's unsynced renames and audit lines,
never a task: an unsynced rename leaves the task in its previous state directory, which the
next tick plans from again. A process crash (``kill -9``) costs nothing: the page cache
survives it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_pending: set[str] | None = None
_lock = threading.Lock()


def _fsync_now(path: str | Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync(path: str | Path, fd: int | None = None) -> None:
    """fsync ``path`` (using ``fd`` when open), or note it for the end of :func:`deferred`."""
    with _lock:
        if _pending is not None:
            _pending.add(str(path))
            return
    if fd is not None:
        os.fsync(fd)
    else:
        _fsync_now(path)


@contextmanager
def deferred() -> Iterator[None]:
    """Collect this process's directory and audit fsyncs; make each once at the end."""
    global _pending
    with _lock:
        if _pending is not None:
            outer = True
        else:
            outer = False
            _pending = set()
    if outer:
        yield
        return
    try:
        yield
    finally:
        with _lock:
            paths, _pending = _pending or set(), None
        for path in sorted(paths):
            # A path removed since has nothing left to make durable.
            with contextlib.suppress(FileNotFoundError):
                _fsync_now(path)
