"""done/ and cancelled/ sharded by the UTC month a task entered them (DESIGN 2, 3): moves,
lookups, listing, history, lint and doctor across shards, a hand move into a shard, and
``aof doctor --fix`` migrating a flat fleet root with nothing lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aof import FixedClock, Fleet, State
from aof.fleetapi import history
from aof.scheduler.daemon import Daemon

from .conftest import Cli, git, git_clean
from .test_hand_changes import PERSON, aged, daemon, records

__all__ = ["daemon"]  # the fixture, used by the hand-move test


def finish(fleet: Fleet, title: str) -> str:
    """A task created, claimed and completed now; its id."""
    t = fleet.create_task(title, ready=True)
    held = fleet.claim(t.id, "coder-1")
    fleet.complete(t.id, token=held.meta["lease"]["token"], summary=f"{title} finished")
    return t.id


def test_done_and_cancelled_go_to_the_shard_of_the_utc_month_of_entry(
    fleet: Fleet, clock: FixedClock, root: Path
) -> None:
    clock.set("2026-10-31T23:59:00Z")
    done = finish(fleet, "october work")
    clock.set("2026-11-01T00:01:00+02:00")  # still October in UTC
    late = finish(fleet, "late october work")
    clock.set("2026-11-21T09:00:00Z")
    gone = fleet.create_task("never mind")
    fleet.cancel(gone.id, reason="not needed")
    assert fleet.get_task(done).path.parent == root / "tasks" / "done" / "2026-10"
    assert fleet.get_task(late).path.parent == root / "tasks" / "done" / "2026-10"
    assert fleet.get_task(gone.id).path.parent == root / "tasks" / "cancelled" / "2026-11"
    assert fleet.get_task(gone.id).state == State.CANCELLED
    assert git_clean(root)
    # One rename: the commit shows the file leaving ready/ and arriving in the shard.
    changed = git(root, "show", "--name-status", "--format=", "HEAD").split("\n")
    assert any(line.endswith(f"tasks/cancelled/2026-11/{fleet.get_task(gone.id).path.name}")
               for line in changed)  # fmt: skip


def test_a_task_of_a_past_month_is_found_listed_and_has_its_history(
    fleet: Fleet, clock: FixedClock, root: Path, run: Cli
) -> None:
    clock.set("2026-09-10T12:00:00Z")
    old = finish(fleet, "september work")
    clock.set("2026-11-21T09:00:00Z")
    new = finish(fleet, "november work")
    dependent = fleet.create_task("after september", ready=True, depends_on=[old])
    # A fresh process locates the old task by a prefix, from its file name alone.
    again = Fleet(root, clock=clock)
    assert again.get_task(old[:5]).path.parent.name == "2026-09"
    rows = {r["id"]: r for r in again.list_tasks(states=["done"])}
    assert rows[old]["path"].startswith("tasks/done/2026-09/")
    assert rows[new]["path"].startswith("tasks/done/2026-11/")
    assert again.tasks.states_of([old, new, dependent.id]) == {
        old: State.DONE, new: State.DONE, dependent.id: State.READY
    }  # fmt: skip
    assert again.claim(dependent.id, "coder-1").state == State.IN_PROGRESS  # its dep is done
    told = history(again, old)
    assert [r["action"] for r in told["records"]][-1] == "completed"
    assert len(told["commits"]) >= 3  # created, claimed, completed: the shard's commit too
    out = run("task", "show", old).output
    assert "september work" in out
    assert again.lint() == []
    assert again.doctor().problems == []
    assert json.loads(run("board", "--json").output)["counts"]["done"] == 2


def test_a_hand_move_into_a_shard_is_a_move_into_done(
    fleet: Fleet, root: Path, daemon: Daemon
) -> None:
    task = fleet.create_task("Drop me")
    old = aged(fleet.get_task(task.id).path)
    daemon.tick()
    shard = root / "tasks" / "cancelled" / "2026-11"
    shard.mkdir(parents=True)
    os.rename(old, shard / old.name)
    daemon.tick()
    assert git_clean(root)
    moved = [r for r in records(root, task.id) if r["action"] == "moved"]
    assert [(r["actor"], r["from"], r["to"]) for r in moved] == [(PERSON, "backlog", "cancelled")]
    assert moved[0]["changes"] == {"path": f"tasks/cancelled/2026-11/{old.name}"}
    assert fleet.get_task(task.id).state == State.CANCELLED


def test_doctor_fix_moves_a_flat_fleet_into_shards_with_nothing_lost(
    fleet: Fleet, clock: FixedClock, root: Path
) -> None:
    clock.set("2026-08-05T10:00:00Z")
    august = finish(fleet, "august work")
    clock.set("2026-10-02T10:00:00Z")
    october = finish(fleet, "october work")
    dropped = fleet.create_task("dropped")
    fleet.cancel(dropped.id, reason="no longer wanted")
    clock.set("2026-11-21T09:00:00Z")
    open_task = fleet.create_task("still open", ready=True)
    # The layout before shards: every finished card directly in done/ or cancelled/.
    for tid in (august, october, dropped.id):
        path = fleet.get_task(tid).path
        git(root, "mv", str(path), str(path.parent.parent / path.name))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "flat layout")
    flat = {tid: fleet.get_task(tid).path for tid in (august, october, dropped.id)}
    assert all(p.parent.name in ("done", "cancelled") for p in flat.values())
    bodies = {tid: p.read_bytes() for tid, p in flat.items()}
    before = {r["id"]: r["state"] for r in fleet.list_tasks()}  # the flat layout still reads
    audit_before = list(fleet.audit.records())

    found = fleet.doctor().problems
    assert [(p.kind, p.fixed) for p in found] == [("layout", False)]
    assert "3 task file(s)" in found[0].message and "doctor --fix" in found[0].message
    head = git(root, "rev-parse", "HEAD").strip()
    fixed = fleet.doctor(fix=True)
    assert fixed.ok and [p.kind for p in fixed.problems] == ["layout"]

    fresh = Fleet(root, clock=clock)
    where = {tid: fresh.get_task(tid).path for tid in flat}
    assert {t: p.relative_to(root).as_posix() for t, p in where.items()} == {
        august: f"tasks/done/2026-08/{flat[august].name}",
        october: f"tasks/done/2026-10/{flat[october].name}",
        dropped.id: f"tasks/cancelled/2026-10/{flat[dropped.id].name}",
    }
    assert {tid: p.read_bytes() for tid, p in where.items()} == bodies
    assert {r["id"]: r["state"] for r in fresh.list_tasks()} == before
    assert fresh.get_task(open_task.id).state == State.READY
    # One commit, made of the three renames and its audit record; the old records all kept.
    assert git(root, "rev-list", "--count", f"{head}..HEAD").strip() == "1"
    assert git_clean(root)
    log = git(root, "log", "--follow", "--format=%s", "--", str(where[august])).split("\n")
    assert any("shard" in line for line in log) and any("ready -> in-progress" in line
                                                         for line in log)  # fmt: skip
    after = list(fresh.audit.records())
    assert after[: len(audit_before)] == audit_before
    assert after[-1]["action"] == "recovered" and len(after) == len(audit_before) + 1
    assert len(history(fresh, august)["commits"]) >= 4
    assert fresh.doctor().problems == [] and fresh.lint() == []


def test_a_task_done_in_a_past_month_is_moved_back_to_ready_by_hand(
    fleet: Fleet, root: Path, daemon: Daemon, clock: FixedClock
) -> None:
    clock.set("2026-09-10T12:00:00Z")
    tid = finish(fleet, "september work")
    clock.set("2026-11-21T09:00:00Z")
    old = aged(fleet.get_task(tid).path)
    assert old.parent == root / "tasks" / "done" / "2026-09"
    daemon.tick()
    os.rename(old, root / "tasks" / "ready" / old.name)
    daemon.tick()
    assert git_clean(root)
    moved = [r for r in records(root, tid) if r["action"] == "moved"]
    assert [(r["from"], r["to"]) for r in moved] == [("done", "ready")]
    assert fleet.get_task(tid).state == State.READY
    assert Fleet(root, clock=clock).get_task(tid).path.parent.name == "ready"
    assert "done/2026-09" in git(root, "log", "--format=", "--name-only", "-2", "--", "tasks")


def test_doctor_reports_what_is_neither_a_shard_nor_a_task_in_done(
    fleet: Fleet, root: Path
) -> None:
    (root / "tasks" / "done" / "old-stuff").mkdir(parents=True)
    (root / "tasks" / "done" / "2026-13").mkdir()
    found = [(p.kind, p.path, p.fixed) for p in fleet.doctor(fix=True).problems]
    assert found == [
        ("layout", "tasks/done/2026-13", False), ("layout", "tasks/done/old-stuff", False)
    ]  # fmt: skip
    assert (root / "tasks" / "done" / "old-stuff").is_dir()


class Repeating:
    """An id source whose first tokens repeat ones already taken (then fresh ones)."""

    def __init__(self, first: list[str]) -> None:
        self.first = list(first)
        self.n = 0

    def token(self, n: int) -> str:
        if self.first:
            return self.first.pop(0)[:n]
        self.n += 1
        return f"zz{self.n:0{n - 2}d}"

    def random(self) -> float:
        return 0.5


def test_a_new_id_never_repeats_one_in_a_settled_past_shard(
    fleet: Fleet, clock: FixedClock, root: Path
) -> None:
    """The id check reads every directory's id cache (a settled past month's shard from its
    cache file, not a listing): an id taken two months ago is not given again; the new id
    grows instead."""
    clock.set("2026-09-10T12:00:00Z")
    old = finish(fleet, "september work")
    shard = root / "tasks" / "done" / "2026-09"
    aged(shard, 60)  # settled: its ids are trusted from the cache from now on
    assert Fleet(root, clock=clock).tasks.count(State.DONE) == 1  # a process that cached them
    assert (root / ".aof" / "cache" / "ids-done-2026-09.json").exists()
    clock.set("2026-11-21T09:00:00Z")
    token = old.removeprefix("t-")
    again = Fleet(root, clock=clock, ids=Repeating([token]))
    made = again.create_task("needs a fresh id")
    assert made.id != old and len(made.id) == len(old) + 1
