"""What a person does by hand while the daemon runs: a task written with only a title is
adopted (by the daemon's sweep and by `aof doctor --fix`), and a task file moved between state
directories is one transition by that person, never a deletion plus an edit, and never a
commit that shows the task twice."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet, SeededIds
from aof.journal.audit import AuditLog
from aof.scheduler.daemon import Daemon

from .conftest import Cli, git, git_clean
from .test_daemon import RecordingExecutor

PERSON = {"kind": "human", "id": "ada-lovelace"}


@pytest.fixture
def daemon(root: Path, clock: FixedClock) -> Iterator[Daemon]:
    """A daemon whose every tick sweeps for hand edits, on a root where git names a person."""
    git(root, "config", "user.name", "Ada Lovelace")
    config = root / "aof.yaml"
    config.write_text(config.read_text().replace("scheduler:\n", "scheduler:\n  sweep_s: 0.001\n"))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "sweep often")
    d = Daemon(
        root,
        clock=clock,
        ids=SeededIds(9),
        executor=RecordingExecutor(),
        watch=False,
        log_to_stderr=False,
    )
    d.acquire()
    yield d
    d.shutdown()


def aged(path: Path, seconds: float = 10) -> Path:
    """``path`` as a person left it a while ago (the sweep leaves files younger than 2 s), by
    the file system's clock (this process's wall clock may be elsewhere: `make date-check`)."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))
    return path


def records(root: Path, task: str | None = None) -> list[dict[str, Any]]:
    recs = list(AuditLog(root, FixedClock("2026-11-21T09:00:00Z")).records())
    return [r for r in recs if task is None or r["entity"]["id"] == task]


def tree_paths(root: Path, commit: str) -> list[str]:
    return git(root, "ls-tree", "-r", "--name-only", commit, "--", "tasks").split()


def copies_per_commit(root: Path, task: str) -> list[int]:
    """For every commit on the branch: how many state directories hold ``task``."""
    shas = git(root, "rev-list", "HEAD").split()
    return [sum(f"/{task}-" in p for p in tree_paths(root, sha)) for sha in shas]


# --- hand-written tasks ----------------------------------------------------------------


DRAFT = "---\ntitle: Fix login  # from the support call\npriority: high\nowner: ada\n---\nThe redirect loops.\n"  # noqa: E501


def test_the_daemon_sweep_adopts_a_task_written_with_only_a_title(
    root: Path, daemon: Daemon
) -> None:
    draft = root / "tasks" / "backlog" / "fix-login.md"
    draft.write_text(DRAFT)
    aged(draft)
    daemon.tick()
    assert not draft.exists() and git_clean(root)
    (path,) = (root / "tasks" / "backlog").glob("t-*-fix-login.md")
    text = path.read_text()
    tid = path.name[: path.name.index("-fix")]
    assert text == (
        f"---\nschema: aof/task/v1\nid: {tid}\ntitle: Fix login  # from the support call\n"
        "priority: high\ncreated: '2026-11-21T09:00:00Z'\ncreated_by: human:ada-lovelace\n"
        "attempts: 0\nowner: ada\n---\nThe redirect loops.\n"
    )
    (rec,) = records(root, tid)
    assert rec["actor"] == PERSON and rec["action"] == "created" and rec["to"] == "backlog"
    assert rec["changes"] == {"adopted": "tasks/backlog/fix-login.md"}
    assert git(root, "log", "-1", "--format=%an|%s") == (
        f"human:ada-lovelace|task {tid}: created in backlog (human:ada-lovelace)\n"
    )
    assert tree_paths(root, "HEAD").count(f"tasks/backlog/{path.name}") == 1
    assert "tasks/backlog/fix-login.md" not in tree_paths(root, "HEAD")


def test_doctor_fix_adopts_a_heading_only_task_and_reports_a_bad_one(root: Path, run: Cli) -> None:
    git(root, "config", "user.name", "Ada Lovelace")
    (root / "tasks" / "ready" / "Write docs.md").write_text("# Write the docs\n\nAll of them.\n")
    bad = root / "tasks" / "ready" / "bad.md"
    bad.write_text("---\ntitle: Bad one\npriority: urgent\n---\n")
    report = run.json("doctor", code=1)["problems"]
    assert {"kind": "adopt", "path": "tasks/ready/Write docs.md", "fixed": False,
            "warning": False,
            "message": "a hand-written task: `aof doctor --fix` adopts it"} in report  # fmt: skip
    fixed = run.json("doctor", "--fix", code=1)["problems"]
    adopted = [p for p in fixed if p["path"] == "tasks/ready/Write docs.md"]
    assert adopted[0]["fixed"] and adopted[0]["message"].startswith("adopted as t-")
    (path,) = (root / "tasks" / "ready").glob("t-*-write-the-docs.md")
    task = run.json("task", "show", path.name[:8])
    assert (task["title"], task["body"], task["created_by"]) == (
        "Write the docs",
        "All of them.\n",
        "human:ada-lovelace",
    )
    refused = [p for p in fixed if p["kind"] == "adopt" and p["path"] == "tasks/ready/bad.md"]
    assert refused == [{"kind": "adopt", "path": "tasks/ready/bad.md", "fixed": False,
                        "warning": False, "message": "a hand-written task that cannot be adopted: "
                        "tasks/ready/bad.md:3: priority: must be one of critical, high, "
                        "normal, low (got 'urgent')"}]  # fmt: skip
    assert bad.read_text() == "---\ntitle: Bad one\npriority: urgent\n---\n"  # untouched


def test_a_draft_the_sweep_cannot_adopt_is_reported_once_and_left(
    root: Path, daemon: Daemon
) -> None:
    draft = root / "tasks" / "ready" / "notes.md"
    draft.write_text("---\ntitle: Notes\nlease: {holder: me}\n---\n")
    aged(draft)
    head = git(root, "rev-parse", "HEAD")
    daemon.tick()
    daemon.tick()
    assert git(root, "rev-parse", "HEAD") == head and draft.exists()
    log = (root / "runs" / "daemon.log").read_text()
    assert log.count("tasks/ready/notes.md:3: lease: is managed by aof; remove it") == 1


# --- hand moves ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mv", "git mv"])
def test_a_hand_move_is_one_transition_by_the_person(
    fleet: Fleet, root: Path, daemon: Daemon, how: str
) -> None:
    task = fleet.create_task("Park me")
    old = aged(fleet.get_task(task.id).path)
    daemon.tick()
    new = root / "tasks" / "blocked" / old.name
    if how == "mv":
        os.rename(old, new)
    else:
        git(root, "mv", str(old), str(new))
    daemon.tick()
    assert git_clean(root)
    mine = [r for r in records(root, task.id) if r["action"] != "created"]
    assert mine == [
        {**mine[0], "actor": PERSON, "action": "moved", "from": "backlog", "to": "blocked",
         "reason": "moved by hand", "changes": {"path": f"tasks/blocked/{old.name}"}}
    ]  # fmt: skip
    assert git(root, "show", "--name-status", "--format=%an|%s", "HEAD").split("\n")[0] == (
        f"human:ada-lovelace|task {task.id}: backlog -> blocked (moved by hand) "
        "(human:ada-lovelace)"
    )
    changed = git(root, "show", "--name-status", "--no-renames", "--format=", "HEAD").split("\n")
    assert f"D\ttasks/backlog/{old.name}" in changed and f"A\ttasks/blocked/{old.name}" in changed
    assert copies_per_commit(root, task.id)[:2] == [1, 1]


def test_a_copy_waits_until_the_original_is_removed(
    fleet: Fleet, root: Path, daemon: Daemon
) -> None:
    task = fleet.create_task("Copied by a file manager")
    old = aged(fleet.get_task(task.id).path)
    shutil.copy2(old, root / "tasks" / "blocked" / old.name)  # copy first, delete later
    head = git(root, "rev-parse", "HEAD")
    daemon.tick()
    assert git(root, "rev-parse", "HEAD") == head  # nothing committed with the task twice
    log = (root / "runs" / "daemon.log").read_text()
    assert f"task {task.id} is in 2 state directories" in log
    old.unlink()
    daemon.tick()
    assert git_clean(root)
    assert [r["action"] for r in records(root, task.id)] == ["created", "moved"]
    assert set(copies_per_commit(root, task.id)) <= {0, 1}


def test_a_moved_file_that_does_not_validate_holds_the_move_back(
    fleet: Fleet, root: Path, daemon: Daemon
) -> None:
    task = fleet.create_task("Broken on the way")
    old = fleet.get_task(task.id).path
    new = root / "tasks" / "blocked" / old.name
    new.write_text(old.read_text().replace("priority: normal", "priority: urgent"))
    old.unlink()
    aged(new)
    head = git(root, "rev-parse", "HEAD")
    daemon.tick()
    assert git(root, "rev-parse", "HEAD") == head  # neither the deletion nor the addition
    new.write_text(new.read_text().replace("priority: urgent", "priority: high"))
    aged(new)
    daemon.tick()
    assert [r["action"] for r in records(root, task.id)] == ["created", "moved"]
    assert git_clean(root)


# --- sweeping what the watcher named -----------------------------------------------------


def test_a_sweep_of_the_named_paths_commits_those_and_leaves_the_rest_for_the_next_full_one(
    root: Path, clock: FixedClock
) -> None:
    from aof.ops.edits import sweep

    git(root, "config", "user.name", "Ada Lovelace")
    fleet = Fleet(root, clock=clock, ids=SeededIds(4), actor="human:tester")
    a = fleet.create_task("Named by the watcher", ready=True)
    b = fleet.create_task("Not named", ready=True)
    for task in (a, b):
        task.path.write_text(task.path.read_text().replace("priority: normal", "priority: high"))
        aged(task.path)
    rel_a, rel_b = fleet.tasks.rel(a.path), fleet.tasks.rel(b.path)

    result = sweep(fleet, {}, only=[rel_a, "tasks/ready/*.md"])  # taken literally, no glob
    assert result.committed == [rel_a]
    assert git(root, "status", "--porcelain").split() == ["M", rel_b]
    assert sweep(fleet, {}).committed == [rel_b]
    assert git_clean(root)


def test_a_watching_daemon_commits_the_hand_edit_its_watcher_reports(
    root: Path, clock: FixedClock
) -> None:
    """Full sweeps an hour apart: the edit is committed because the watcher named it."""
    from .support.watching import watching_daemon

    git(root, "config", "user.name", "Ada Lovelace")
    with watching_daemon(root, clock) as d:
        task = d.fleet.create_task("Edited by hand", ready=True)
        d.tick()
        task.path.write_text(task.path.read_text().replace("priority: normal", "priority: low"))
        aged(task.path)
        deadline = time.monotonic() + 20
        while not git_clean(root):
            assert time.monotonic() < deadline, git(root, "status", "--porcelain")
            time.sleep(0.1)
            d.tick()
        assert "priority: low" in git(root, "show", f"HEAD:{d.fleet.tasks.rel(task.path)}")


def test_a_move_the_watcher_named_half_of_waits_whole_for_its_fresh_half(
    root: Path, clock: FixedClock
) -> None:
    """A move being made (aof's own, before its commit): the new file is fresh, the old one
    gone, and the watcher has named only the old one so far. It is not a person's deletion:
    it waits with its new file."""
    from aof.ops.edits import sweep

    git(root, "config", "user.name", "Ada Lovelace")
    fleet = Fleet(root, clock=clock, ids=SeededIds(4), actor="human:tester")
    task = fleet.create_task("Being moved", ready=True)
    old = fleet.tasks.rel(task.path)
    new = root / "tasks" / "backlog" / task.path.name
    new.write_text(task.path.read_text())  # fresh: just written
    ahead = new.stat().st_mtime_ns + 30 * 10**9  # and still fresh however slow the machine is
    os.utime(new, ns=(ahead, ahead))
    task.path.unlink()
    head = git(root, "rev-parse", "HEAD")
    result = sweep(fleet, {}, only=[old])
    assert result.committed == [] and old in result.young
    assert git(root, "rev-parse", "HEAD") == head
