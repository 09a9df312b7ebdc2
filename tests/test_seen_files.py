"""Listings that skip the stat of files read before, in a process that hears of edits.

A daemon with its watcher on lists ``tasks/`` without a stat per file: a file keeps the
summary read before while its inode is unchanged and nothing reported it. These tests hold
what that may cost (an in-place edit nobody reported, until the next full pass) and what it
must never cost (a write by aof, a new file, a removed file, a reported edit).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aof import FixedClock, Fleet, SeededIds
from aof.model.task import State
from aof.scheduler.daemon import Daemon
from aof.store.seen import SeenFiles

from .support.watching import watching_daemon


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def titles(fleet: Fleet) -> dict[str, str]:
    return {r["id"]: r["title"] for r in fleet.tasks.summaries([State.READY])[0]}


def edit_in_place(path: Path, old: str, new: str) -> None:
    """Change ``path`` as an editor that writes into the file does: same inode."""
    inode = path.stat().st_ino
    text = path.read_text().replace(old, new)
    with path.open("r+") as fh:
        fh.write(text)
        fh.truncate()
    assert path.stat().st_ino == inode


def test_without_reports_every_listing_sees_an_in_place_edit_at_once(fleet: Fleet) -> None:
    task = fleet.create_task("First title", ready=True)
    assert titles(fleet) == {task.id: "First title"}
    edit_in_place(task.path, "First title", "Edited title")
    assert titles(fleet) == {task.id: "Edited title"}


def test_a_reported_edit_an_aof_write_and_new_or_removed_files_are_seen(fleet: Fleet) -> None:
    ticks = Ticks()
    fleet.tasks.seen = SeenFiles(fleet.root, 60, monotonic=ticks)
    a = fleet.create_task("Alpha", ready=True)
    b = fleet.create_task("Beta", ready=True)
    assert titles(fleet) == {a.id: "Alpha", b.id: "Beta"}

    edit_in_place(a.path, "Alpha", "Alpha, edited")
    assert titles(fleet)[a.id] == "Alpha"  # nobody reported it: the summary read before stays
    fleet.tasks.seen.changed([fleet.tasks.rel(a.path)])
    assert titles(fleet)[a.id] == "Alpha, edited"

    fleet.edit_task(b.id, title="Beta, through aof")  # a new file (new inode), unreported
    c = fleet.create_task("Gamma", ready=True)
    assert titles(fleet) == {a.id: "Alpha, edited", b.id: "Beta, through aof", c.id: "Gamma"}
    c.path.unlink()
    assert set(titles(fleet)) == {a.id, b.id}


def test_an_unreported_edit_is_seen_by_the_next_full_pass(fleet: Fleet) -> None:
    ticks = Ticks()
    fleet.tasks.seen = SeenFiles(fleet.root, 60, monotonic=ticks)
    task = fleet.create_task("Before", ready=True)
    assert titles(fleet)[task.id] == "Before"
    edit_in_place(task.path, "Before", "After")
    ticks.now += 59
    assert titles(fleet)[task.id] == "Before"
    ticks.now += 1
    assert titles(fleet)[task.id] == "After"


def test_a_task_that_leaves_and_comes_back_changed_is_read_again(fleet: Fleet) -> None:
    fleet.tasks.seen = SeenFiles(fleet.root, 3600)
    task = fleet.create_task("Round trip", ready=True)
    assert titles(fleet)[task.id] == "Round trip"
    claimed = fleet.claim(task.id, "agent:a")
    fleet.release(task.id, token=claimed.card.meta["lease"]["token"], reason="back")
    rows = {r["id"]: r for r in fleet.tasks.summaries([State.READY])[0]}
    assert rows[task.id]["attempts"] == 1 and rows[task.id]["holder"] is None


def test_a_write_whose_file_got_the_old_inode_number_is_read_again(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel gives a freed inode number to the next new file: a task that leaves ready/
    and comes back may have the very inode it was read at. Simulated exactly: as each move
    lands, the memo is made to hold the new file's inode, as if the number had been reused."""
    from aof.files import cardfile

    seen = fleet.tasks.seen = SeenFiles(fleet.root, 3600)
    task = fleet.create_task("Round trip", ready=True)
    assert titles(fleet)[task.id] == "Round trip"
    move = cardfile.move_rewrite

    def move_reusing_inode(src: Path, dst: Path, *args: object, **kwargs: object) -> None:
        memo = seen._dirs.get("ready", {})
        old = memo.get(src.name)
        move(src, dst, *args, **kwargs)  # type: ignore[arg-type]
        if old is not None and dst.parent.name == "ready":
            memo[dst.name] = (dst.stat().st_ino, old[1])  # the number the old file had

    monkeypatch.setattr(cardfile, "move_rewrite", move_reusing_inode)
    claimed = fleet.claim(task.id, "agent:a")
    fleet.release(task.id, token=claimed.card.meta["lease"]["token"], reason="back")
    rows = {r["id"]: r for r in fleet.tasks.summaries([State.READY])[0]}
    assert rows[task.id]["attempts"] == 1 and rows[task.id]["holder"] is None


def add_keeping_mtime(directory: Path, source: Path, tid: str) -> str:
    """Copy task ``source`` into ``directory`` under a new id, then set the directory's mtime
    back: a change the directory's stamp does not show (as one in the same timestamp tick as
    the one before it would be)."""
    st = directory.stat()
    (directory / f"{tid}-added.md").write_text(source.read_text().replace(source.name[:8], tid))
    os.utime(directory, ns=(st.st_atime_ns, st.st_mtime_ns))
    return tid


def test_a_settled_directory_is_taken_whole_and_a_fresh_one_is_listed(fleet: Fleet) -> None:
    fleet.tasks.seen = SeenFiles(fleet.root, 3600)
    first = fleet.create_task("First", ready=True)
    ready = first.path.parent
    ahead = ready.stat().st_mtime_ns + 30 * 10**9  # fresh however slow the machine is
    os.utime(ready, ns=(ahead, ahead))
    titles(fleet)  # listed while the directory is fresh: not kept whole
    fresh = add_keeping_mtime(ready, first.path, "t-zzzzz1")
    assert fresh in titles(fleet), "a directory that had not settled is listed again"

    old = ready.stat().st_mtime_ns - 60 * 10**9  # settled, by the file system's clock
    os.utime(ready, ns=(old, old))
    titles(fleet)  # kept whole now
    hidden = add_keeping_mtime(ready, first.path, "t-zzzzz2")
    assert hidden not in titles(fleet), "the settled directory's rows were reused"
    fleet.tasks.seen.changed([f"tasks/ready/{hidden}-added.md"])
    assert hidden in titles(fleet), "a report about a file in it lists it again"


@pytest.fixture
def watching(root: Path, clock: FixedClock) -> Iterator[Daemon]:
    with watching_daemon(root, clock) as d:
        yield d


def test_the_daemon_sees_an_in_place_edit_its_watcher_reports(watching: Daemon) -> None:
    fleet = watching.fleet
    assert fleet.tasks.seen is not None, "the daemon trusts its watcher"
    task = fleet.create_task("Watched", ready=True)
    watching.tick()
    assert titles(fleet)[task.id] == "Watched"
    edit_in_place(task.path, "Watched", "Watched, edited by hand")
    deadline = time.monotonic() + 20
    while titles(fleet)[task.id] != "Watched, edited by hand":
        assert time.monotonic() < deadline, "the watcher's report never reached the listing"
        time.sleep(0.1)
        watching.tick()


@pytest.mark.parametrize(
    "damage",
    [b"", b"\x00garbage", b"{not marshal", "truncated", "other format", "older version"],
)
def test_a_damaged_or_foreign_summary_cache_is_rebuilt(
    root: Path, clock: FixedClock, damage: bytes | str
) -> None:
    """The summary cache is derived data: whatever is in its file, the listing is right and
    the file is written again, loadable; an older aof's JSON cache beside it is removed."""
    import marshal

    fleet = Fleet(root, clock=clock, ids=SeededIds(5))
    made = {fleet.create_task(f"Task {i}", ready=True).id for i in range(3)}
    fleet.tasks.summaries([State.READY])
    cache = root / ".aof" / "cache" / "tasks-ready.bin"
    good = cache.read_bytes() if cache.exists() else marshal.dumps({})
    data = marshal.loads(good) if good else {}
    if damage == "truncated":
        raw = good[: len(good) // 2]
    elif damage == "other format":
        raw = marshal.dumps({**data, "marshal": -1})
    elif damage == "older version":
        raw = marshal.dumps({**data, "v": 1})
    else:
        assert isinstance(damage, bytes)
        raw = damage
    cache.write_bytes(raw)
    (root / ".aof" / "cache" / "tasks-ready.json").write_text('{"v": 10, "entries": {}}')
    fresh = Fleet(root, clock=clock)
    assert {r["id"] for r in fresh.tasks.summaries([State.READY])[0]} == made
    for path in (root / "tasks" / "ready").iterdir():  # settled (by the file system's clock),
        old = path.stat().st_mtime - 60  # so the listing may keep what it parsed
        os.utime(path, (old, old))
    assert {r["id"] for r in Fleet(root).tasks.summaries([State.READY])[0]} == made
    kept = marshal.loads(cache.read_bytes())
    assert kept["marshal"] == marshal.version and len(kept["entries"]) == 3
    assert not (root / ".aof" / "cache" / "tasks-ready.json").exists()
