"""A daemon in this process whose watcher runs, with full passes an hour apart: whatever it
learns of a hand edit between them, it learns from its watcher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aof import FixedClock, SeededIds
from aof.scheduler.daemon import Daemon

from ..conftest import git


@contextmanager
def watching_daemon(root: Path, clock: FixedClock) -> Iterator[Daemon]:
    """Started (its watcher on) and shut down around the block, with ``scheduler.sweep_s``
    set to an hour and committed; runs go to a recording executor (nothing starts)."""
    from ..test_daemon import RecordingExecutor

    config = root / "aof.yaml"
    config.write_text(config.read_text().replace("scheduler:\n", "scheduler:\n  sweep_s: 3600\n"))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "rare sweeps")
    d = Daemon(
        root, clock=clock, ids=SeededIds(9), executor=RecordingExecutor(), log_to_stderr=False
    )
    d.start()
    try:
        yield d
    finally:
        d.shutdown()
