"""`aof doctor` tells a change in flight (a writer between its write and its commit, holding
the task's lock) from a change left uncommitted, and never commits the former as a leftover."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from aof import Fleet

from .conftest import git_clean


def _change_in_flight(root: Path, tid: str, path: Path, holding: threading.Event) -> None:
    """What a writer does: under the task's lock, write the file, then commit it."""
    writer = Fleet(root, actor="agent:writer")
    with writer.tasks.lock(tid):
        path.write_text(path.read_text().replace("title: x", "title: y"))
        holding.set()
        time.sleep(0.5)  # the commit is slow: a busy machine
        rel = path.relative_to(root).as_posix()
        subprocess.run(["git", "add", rel], cwd=root, check=True)
        subprocess.run(
            ["git", "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "w"],
            cwd=root,
            check=True,
        )


def test_doctor_waits_for_a_change_in_flight(fleet: Fleet, root: Path) -> None:
    task = fleet.create_task("x")
    holding = threading.Event()
    writer = threading.Thread(target=_change_in_flight, args=(root, task.id, task.path, holding))
    writer.start()
    assert holding.wait(30)
    report = fleet.doctor(fix=True)
    writer.join(30)
    assert [p for p in report.problems if p.kind == "git"] == []  # not taken as a leftover
    assert git_clean(root)
    assert "title: y" in task.path.read_text()
