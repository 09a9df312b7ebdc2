"""The file system's clock: what "now" is for the mtimes of a fleet root's files.

A file's mtime is stamped by the file system (the kernel, or a network share's server), not
by this process's wall clock, and the two can disagree: a share whose server runs ahead or
behind, or a machine whose clock was moved. Code that asks "how long ago did this file
change?" compares its mtime with :func:`fs_now` of the same file system, never with
``time.time()``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import layout


def fs_now(root: Path) -> float:
    """The file system's current time under ``root``: the mtime it gives a file touched now."""
    probe = layout.clock_probe(root)
    try:
        os.utime(probe, None)
    except FileNotFoundError:
        probe.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        os.utime(probe, None)
    return os.stat(probe).st_mtime
