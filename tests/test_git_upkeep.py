"""The daemon's git upkeep: aof's own commits never run gc, so the daemon runs
`git gc --auto` itself, in the background and at most once per interval; past git's own
threshold the loose objects are packed and the history stays whole."""

from __future__ import annotations

from pathlib import Path

from aof import Fleet
from aof.journal.gitupkeep import GitUpkeep

from .conftest import git, git_clean


def packs(root: Path) -> int:
    return len(list((root / ".git" / "objects" / "pack").glob("*.pack")))


def test_packs_past_gc_auto_pack_limit_are_merged_once_per_interval(fleet: Fleet) -> None:
    root = fleet.root
    git(root, "config", "gc.autoPackLimit", "2")  # git's threshold, made small
    git(root, "config", "gc.autoDetach", "false")  # so that waiting on it means it is done
    notes = root / "notes"
    notes.mkdir()
    for batch in range(3):  # aof's commits never gc: each big one leaves a pack of its own
        paths = []
        for i in range(1001):
            path = notes / f"note-{batch}-{i:04d}.md"
            path.write_text(f"note {batch} {i}\n")
            paths.append(path)
        fleet.git.commit(paths, f"batch {batch}", fleet.actor)
    assert packs(root) >= 3
    head = git(root, "rev-parse", "HEAD").strip()
    upkeep = GitUpkeep(root, every_s=3600)
    assert upkeep.poke()
    upkeep.wait(120)
    assert packs(root) == 1
    assert git(root, "rev-parse", "HEAD").strip() == head
    assert git(root, "ls-files", "notes").count("\n") == 3003  # the history is whole
    assert git_clean(root)
    assert not upkeep.poke()  # not again within the interval


def test_the_daemon_starts_the_upkeep_with_its_ticks(root: Path) -> None:
    from aof.scheduler.daemon import Daemon

    daemon = Daemon(root, watch=False, log_to_stderr=False)
    try:
        daemon.tick()
        assert daemon.upkeep.proc is not None  # the first tick starts one
        first = daemon.upkeep.proc
        daemon.tick()
        assert daemon.upkeep.proc is first  # and not another within the hour
    finally:
        daemon.shutdown()
