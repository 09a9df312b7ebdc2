"""When the daemon is idle, what it waits on until then, and what it leaves behind.

In-process ticks use a fixed clock and the recording executor of test_daemon.py; the
``aof daemon --until-idle`` test runs the real daemon and demo coder on the system clock,
in a fleet root made on the system clock too.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet, SeededIds, State
from aof.scheduler.daemon import Daemon

from .conftest import git, sub_env
from .test_daemon import RecordingExecutor, ready, set_config


@pytest.fixture
def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
def daemon(root: Path, clock: FixedClock, executor: RecordingExecutor) -> Any:
    d = Daemon(
        root,
        clock=clock,
        ids=SeededIds(9),
        executor=executor,
        watch=False,
        log_to_stderr=False,
        coder="demo",
    )
    d.acquire()
    yield d
    d.shutdown()


def agent(fleet: Fleet) -> Fleet:
    return Fleet(fleet.root, clock=fleet.clock, actor="agent:demo")


def complete(fleet: Fleet, executor: RecordingExecutor, tid: str) -> None:
    token = executor.token_of(tid)
    agent(fleet).complete(tid, token=token, summary="done")


def test_a_task_held_by_someone_else_leaves_the_daemon_idle_once_its_runs_end(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, root: Path
) -> None:
    held, mine = ready(fleet, 2)
    lease = fleet.claim(held, "coder-1").lease  # a person's `aof task next --claim`
    report = daemon.tick()
    assert [d["task"] for d in report["dispatched"]] == [mine]
    assert report["idle"] is False  # its own run is alive
    complete(fleet, executor, mine)
    executor.exit(mine, 0)
    report = daemon.tick()
    assert report["settled"] and report["idle"] is True
    outlook = daemon.outlook
    assert outlook is not None
    assert outlook.held == [{"task": held, "holder": "coder-1", "expires": lease["expires"]}]
    assert outlook.report() == [
        f"  {held}  in progress, held by coder-1 (lease until {lease['expires']})"
    ]
    log = (root / "runs" / "daemon.log").read_text()
    assert "tick 1: dispatched 1, settled 0, applied 0, 1 running, 0 ready waiting (" in log
    assert f" ms); waiting on 1 live run of this daemon ({mine}.1)\n" in log
    assert "idle: 1 task held by someone else" in log


def test_an_unchanged_wait_is_logged_once_and_a_change_again(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, root: Path
) -> None:
    (tid,) = ready(fleet, 1)
    daemon.tick()
    for _ in range(3):
        assert daemon.tick()["idle"] is False
    log = (root / "runs" / "daemon.log").read_text()
    assert log.count(f"waiting on 1 live run of this daemon ({tid}.1)") == 1
    complete(fleet, executor, tid)  # the coder reported; its process has not exited yet
    assert daemon.tick()["idle"] is False
    log = (root / "runs" / "daemon.log").read_text()
    assert f"tick 5: waiting on 1 finishing run ({tid}.1)" in log


def test_the_running_count_is_live_runs_only_and_never_exceeds_max_concurrent(
    fleet: Fleet, root: Path, daemon: Daemon, executor: RecordingExecutor
) -> None:
    set_config(root, max_concurrent=2)
    first, second, third = ready(fleet, 3)
    report = daemon.tick()
    assert {d["task"] for d in report["dispatched"]} == {first, second}
    done = next(d["task"] for d in report["dispatched"])
    complete(fleet, executor, done)  # its slot is free; its process is still winding down
    report = daemon.tick()
    assert [d["task"] for d in report["dispatched"]] == [third]
    assert len([r for r in executor.runs() if r.state == "running"]) == 3
    assert report["runs"] == 2
    assert daemon.last["runs"] == 2
    assert daemon.outlook is not None and daemon.outlook.finishing == [f"{done}.1"]
    log = (root / "runs" / "daemon.log").read_text()
    assert "dispatched 1, settled 0, applied 0, 2 running, 0 ready waiting" in log
    assert f"1 finishing run ({done}.1)" in log


def test_an_expired_lease_of_someone_else_is_planned_again_before_idle(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, clock: FixedClock
) -> None:
    (tid,) = ready(fleet, 1)
    fleet.claim(tid, "coder-1", ttl_s=60)
    assert daemon.tick()["idle"] is True  # held by someone else: nothing to do now
    clock.advance(61)
    report = daemon.tick()
    assert [a["kind"] for a in report["applied"]] == ["expire"]
    assert report["idle"] is False  # the task is ready again: the next plan must see it
    report = daemon.tick()
    assert [d["task"] for d in report["dispatched"]] == [tid]


# --- the real daemon ------------------------------------------------------------------------


def aof(aof_bin: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [aof_bin, "--root", str(root), *args],
        env=sub_env(),
        capture_output=True,
        text=True,
        timeout=120,  # the daemon used to wait for ever here: a hang fails the test
    )
    assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_until_idle_exits_and_names_what_it_leaves_behind(aof_bin: str, tmp_path: Path) -> None:
    root = Fleet.init(tmp_path / "fleet", actor="human:tester").root  # the system clock
    git(root, "config", "user.name", "Ada Lovelace")
    git(root, "config", "user.email", "ada@example.com")

    def new(*args: str) -> str:
        return str(json.loads(aof(aof_bin, root, "task", "create", *args, "--json").stdout)["id"])

    held = new("Held by a person", "--ready")
    claim = ("task", "next", "--agent", "coder-1", "--claim", "--json")
    claimed = json.loads(aof(aof_bin, root, *claim).stdout)
    assert claimed["task"]["id"] == held
    expires = claimed["task"]["lease"]["expires"]
    after_held = new("After the held one", "--ready", "--depends-on", held)
    flaky = new("Failed once", "--ready")
    fleet = Fleet(root, actor="human:tester")
    token = fleet.claim(flaky, "coder-2").lease["token"]
    retry = fleet.fail(flaky, error="boom", token=token).meta["retry_after"]
    # A team whose only window is on another weekday than today (UTC): paused now.
    other_day = (dt.datetime.now(dt.UTC).weekday() + 3) % 7
    team = ("--slug", "night", "--name", "N", "--mission", "m", "--ownership", "o")
    aof(aof_bin, root, "team", "create", *team)
    window = ("--policy", "business_hours", "--window", f"{other_day},9,17")
    aof(aof_bin, root, "schedule", "create", "--team", "night", "--timezone", "UTC", *window)
    windowed = new("Outside the window", "--ready", "--team", "night")
    first = new("Runs now", "--ready")
    then = new("Runs after it", "--ready", "--depends-on", first)

    until_idle = ("--until-idle", "--interval", "0.2", "--quiet", "--coder", "demo")
    out = aof(aof_bin, root, "daemon", *until_idle).stdout

    fleet = Fleet(root, actor="human:tester")
    assert fleet.get_task(first).state == State.DONE
    assert fleet.get_task(then).state == State.DONE  # dispatchable after a run: not left
    lines = out.splitlines()
    assert lines[0].endswith(
        "tick(s): 1 task held by someone else, 3 ready tasks not dispatchable now:"
    )
    assert lines[0].startswith("idle after ")
    assert f"  {held}  in progress, held by coder-1 (lease until {expires})" in lines
    assert f"  {flaky}  ready, not dispatched: backing off after a failure until {retry}" in lines
    assert f"  {after_held}  ready, not dispatched: waiting on {held} (in-progress)" in lines
    (window_line,) = [x for x in lines if x.startswith(f"  {windowed}  ")]
    assert "team night is paused" in window_line and "outside its business_hours" in window_line
    assert len(lines) == 5
    log = (root / "runs" / "daemon.log").read_text()
    assert f"waiting on 1 live run of this daemon ({first}.1)" in log
    assert "idle: 1 task held by someone else, 3 ready tasks not dispatchable now" in log
