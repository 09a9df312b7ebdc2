"""A dispatcher killed between claiming a task and starting its run: the next daemon gives
the task back to ready at once (not after the lease's lifetime) and runs it; an intent of a
live dispatcher, a later claim and a started run are left alone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from aof import Fleet, State
from aof.clock import SystemClock
from aof.journal.audit import AuditLog
from aof.runner import intents

from .conftest import set_default_coder, sub_env

# A dispatcher whose executor never starts the run: killed while it "starts".
DISPATCHER = textwrap.dedent(
    """
    import sys, time
    from aof import Fleet
    from aof.runner.dispatch import dispatch

    class Stalled:
        def submit(self, spec):
            print("claimed", flush=True)
            time.sleep(600)

    fleet = Fleet(sys.argv[1], actor="scheduler:daemon")
    dispatch(fleet, Stalled(), sys.argv[2], "demo", projects={}, coder="demo")
    """
)


def until_idle(aof_bin: str, root: Path) -> None:
    """A daemon run until it is idle; its exit status must be 0."""
    done = subprocess.run(
        [aof_bin, "--root", str(root), "daemon", "--until-idle", "--interval", "0.2", "--quiet"],
        env=sub_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_a_claim_whose_dispatcher_was_killed_is_given_back_and_run(
    root: Path, aof_bin: str
) -> None:
    set_default_coder(root)
    fleet = Fleet(root, actor="human:tester", clock=SystemClock())
    tid = fleet.create_task("Orphaned claim", ready=True).id
    proc = subprocess.Popen(
        [sys.executable, "-c", DISPATCHER, str(root), tid],
        env=sub_env(),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"claimed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    held = fleet.get_task(tid)
    assert held.state == State.IN_PROGRESS and (held.lease or {}).get("holder") == "demo"
    assert intents.path_of(root, tid).exists()  # the intent outlived its dispatcher
    until_idle(aof_bin, root)
    task = fleet.get_task(tid)
    assert task.state == State.DONE and task.meta["attempts"] == 2
    assert not intents.path_of(root, tid).exists()
    [released] = [
        r for r in AuditLog(root, SystemClock()).query(task=tid) if r["action"] == "released"
    ]
    assert released["reason"] == intents.REASON
    assert released["changes"]["override"]["lease_holder"] == "demo"
    log = (root / "runs" / "daemon.log").read_text()
    assert f"gave {tid} back to ready" in log


def _intent(root: Path, tid: str, **changes: object) -> Path:
    path = intents.path_of(root, tid)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"task": tid, "holder": "demo", "pid": 2**22 + 7, "create_time": 1.0}
    data["at"] = "2000-01-01T00:00:00Z"
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def test_a_live_dispatcher_a_later_claim_and_a_started_run_are_left_alone(
    fleet: Fleet, root: Path
) -> None:
    live, later, started, gone = (
        fleet.create_task(title, ready=True).id for title in ("Live", "Later", "Started", "Gone")
    )
    for tid in (live, later, started):
        fleet.claim(tid, "demo")
    # the dispatcher still runs (this very process's parent: alive)
    import os

    import psutil

    parent = os.getppid()
    keep = _intent(root, live, pid=parent, create_time=psutil.Process(parent).create_time())
    late = _intent(root, later, at="2999-01-01T00:00:00Z")  # the claim predates the intent
    plan = root / "runs" / started / "1" / "run.json"
    plan.parent.mkdir(parents=True)
    plan.write_text("{}")
    begun = _intent(root, started)
    unclaimed = _intent(root, gone)  # killed before its claim: the task is still ready
    assert intents.recover(fleet) == []
    assert keep.exists()  # a live dispatcher's intent is its own to clear
    assert not late.exists() and not begun.exists() and not unclaimed.exists()
    states = {t: fleet.get_task(t).state for t in (live, later, started, gone)}
    assert states == {
        live: State.IN_PROGRESS,
        later: State.IN_PROGRESS,
        started: State.IN_PROGRESS,
        gone: State.READY,
    }


def test_a_run_dispatched_normally_leaves_no_intent(root: Path, aof_bin: str) -> None:
    set_default_coder(root)
    Fleet(root, actor="human:tester").create_task("Plain", ready=True)
    until_idle(aof_bin, root)
    assert "dispatched" in (root / "runs" / "daemon.log").read_text()
    assert list((root / ".aof").glob("dispatching/*")) == []
