"""The daemon as a real process, dispatching to the real demo coder through the local
executor: a dependency graph run to completion, a SIGKILL mid-run and a restart, fencing,
and a config change picked up without restart."""

from __future__ import annotations

import itertools
import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet, State
from aof.clock import SystemClock
from aof.journal.audit import AuditLog

from .conftest import git, git_clean, set_default_coder, sub_env

pytestmark = pytest.mark.slow


def configure(root: Path, *, max_concurrent: int, demo_seconds: float, ttl: int = 900) -> None:
    text = (root / "aof.yaml").read_text()
    text = text.replace("max_concurrent: 4", f"max_concurrent: {max_concurrent}")
    text = text.replace("lease_ttl_s: 900", f"lease_ttl_s: {ttl}")
    text += f"coders:\n  demo:\n    env: {{AOF_DEMO_SECONDS: '{demo_seconds}'}}\n"
    (root / "aof.yaml").write_text(text)
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "configure")
    set_default_coder(root)


def graph(root: Path, n: int, seed: int) -> dict[str, list[str]]:
    """``n`` ready tasks; each depends on up to two earlier ones. Returns id -> deps."""
    rng = random.Random(seed)
    fleet = Fleet(root, actor="human:tester")
    deps: dict[str, list[str]] = {}
    ids: list[str] = []
    for i in range(n):
        pick = rng.sample(ids[-20:], k=min(len(ids[-20:]), rng.choice((0, 0, 1, 2))))
        task = fleet.create_task(f"Step {i}", depends_on=pick, ready=True)
        deps[task.id] = pick
        ids.append(task.id)
    return deps


def start_daemon(aof_bin: str, root: Path, *args: str) -> subprocess.Popen[bytes]:
    (root / "runs").mkdir(exist_ok=True)
    # --quiet: the log is runs/daemon.log; stderr keeps what escapes it (a traceback)
    with open(root / "runs" / "daemon.stderr", "ab") as err:
        return subprocess.Popen(
            [aof_bin, "--root", str(root), "daemon", "--interval", "0.2", "--quiet", *args],
            env=sub_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def finish(proc: subprocess.Popen[bytes], root: Path, timeout: float) -> None:
    """Wait for a daemon run with --until-idle; fail with its log's tail."""
    proc.wait(timeout=timeout)
    log = root / "runs" / "daemon.log"
    tail = log.read_text()[-3000:] if log.exists() else "(no log)"
    err = root / "runs" / "daemon.stderr"
    stderr = err.read_text()[-3000:] if err.exists() else ""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{tail}\nstderr:\n{stderr}"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def done_count(root: Path) -> int:
    return sum(1 for p in (root / "tasks" / "done").rglob("*.md"))


def run_intervals(root: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Per task, (start, end, token) of every demo-coder run, from its events.jsonl."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for events in (root / "runs").glob("t-*/*/events.jsonl"):
        lines = [json.loads(x) for x in events.read_text().splitlines()]
        token = json.loads((events.parent / "run.json").read_text())["token"]
        start = next(e for e in lines if e["event"] == "process_start")
        end = next((e for e in lines if e["event"] == "runner_end"), None)
        out.setdefault(start["task"], []).append(
            (start["ts"], end["ts"] if end else "~", token)  # ISO times: "~" sorts last
        )
    return out


def assert_valid_order(root: Path, deps: dict[str, list[str]]) -> None:
    """Every task was claimed only after each of its dependencies was done.

    The audit's line order is not quite causal across processes: an agent's completion
    renames the file, then appends its record, and in between the daemon may already claim
    the dependent task (the claim checks the file, which is done by then). So a claim may
    precede its dependency's `done` record, but only when the dependency had been claimed
    before it and nothing else of the dependency was recorded in between (its `done` record
    is the very next one of its own): a claim made while the dependency was still running
    would come before the dependency's other records of that run (progress, its report).
    How far apart the two lines are in time says nothing on a busy machine.
    """
    records = list(AuditLog(root, SystemClock()).records())  # oldest first
    done_at: dict[str, int] = {}
    claims: dict[str, list[int]] = {}
    of_task: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        tid = record["entity"]["id"]
        of_task.setdefault(tid, []).append(i)
        if record.get("to") == "done":
            done_at[tid] = i
        if record["action"] == "claimed":
            claims.setdefault(tid, []).append(i)
    for tid, needs in deps.items():
        for d in needs:
            di = done_at[d]
            for ci in claims[tid]:
                if di < ci:
                    continue
                between = [j for j in of_task[d] if ci < j < di]
                claimed_before = any(j < ci for j in claims[d])
                assert claimed_before and not between, (tid, d, records[ci], records[di])


def assert_never_twice_at_once(root: Path, ids: set[str]) -> None:
    """Every task ran (its coder's events are there), and no two runs of one overlapped."""
    intervals = run_intervals(root)
    assert set(intervals) == ids
    for tid, runs in intervals.items():
        runs.sort()
        for (_, end, tok), (start, _, tok2) in itertools.pairwise(runs):
            assert start >= end, f"{tid}: runs {tok} and {tok2} overlapped"


def test_a_dependency_graph_runs_to_done_through_the_daemon(aof_bin: str, root: Path) -> None:
    configure(root, max_concurrent=8, demo_seconds=0)
    deps = graph(root, 200, seed=4)
    finish(start_daemon(aof_bin, root, "--until-idle"), root, 900)
    fleet = Fleet(root)
    assert done_count(root) == 200, fleet.plan()["waiting"][:5]
    assert_valid_order(root, deps)
    assert_never_twice_at_once(root, set(deps))
    for tid in list(deps)[:20]:
        task = fleet.get_task(tid)
        assert task.state == State.DONE and task.meta["attempts"] == 1
        assert "Done by the demo coder" in task.body
    assert git_clean(root)
    log = (root / "runs" / "daemon.log").read_text()
    assert "aof daemon stopped" in log


def test_a_killed_daemon_restarts_and_every_task_still_finishes_once(
    aof_bin: str, root: Path
) -> None:
    configure(root, max_concurrent=6, demo_seconds=0.6)
    deps = graph(root, 40, seed=7)
    first = start_daemon(aof_bin, root)
    wait_for(lambda: done_count(root) >= 8, 300, "8 tasks done")
    first.send_signal(signal.SIGKILL)  # mid-run: runs keep going, leases stay
    first.wait()
    # The lock died with the process: a new daemon starts, adopts the live runs, goes on.
    finish(start_daemon(aof_bin, root, "--until-idle"), root, 600)
    assert done_count(root) == 40
    assert_valid_order(root, deps)
    assert_never_twice_at_once(root, set(deps))
    # Fencing: each task was completed once, by the agent holding its lease at the time.
    completions: dict[str, int] = {}
    for record in AuditLog(root, SystemClock()).records():
        if record.get("to") == "done":
            assert record["actor"]["kind"] == "agent"
            completions[record["entity"]["id"]] = completions.get(record["entity"]["id"], 0) + 1
    assert completions == dict.fromkeys(deps, 1)
    assert git_clean(root)


def test_a_second_daemon_is_refused_and_sigterm_stops_the_first(aof_bin: str, root: Path) -> None:
    first = start_daemon(aof_bin, root)
    try:
        wait_for(lambda: (root / ".aof" / "daemon.json").exists(), 30, "the daemon to start")
        second = subprocess.run(
            [aof_bin, "--root", str(root), "daemon", "--once"],
            env=sub_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 13, second.stderr
        assert f"pid {first.pid} on " in second.stderr
        status = subprocess.run(
            [aof_bin, "--root", str(root), "daemon", "status", "--json"],
            env=sub_env(),
            capture_output=True,
            text=True,
        )
        assert json.loads(status.stdout)["daemon"]["running"] is True
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 0
    info = json.loads((root / ".aof" / "daemon.json").read_text())
    assert info["state"] == "stopped"


def test_sigusr1_writes_every_threads_stack_and_the_daemon_goes_on(
    aof_bin: str, root: Path
) -> None:
    """A daemon that seems stuck says where: SIGUSR1 writes each thread's stack to stderr."""
    first = start_daemon(aof_bin, root)
    err = root / "runs" / "daemon.stderr"
    try:
        wait_for(lambda: (root / ".aof" / "daemon.json").exists(), 30, "the daemon to start")
        first.send_signal(signal.SIGUSR1)
        wait_for(lambda: "most recent call first" in err.read_text(), 30, "the stacks")
        assert first.poll() is None  # it goes on
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 0
    assert "aof/scheduler/daemon.py" in err.read_text()  # the main loop is among them


def test_a_storm_of_sigchld_never_stalls_the_daemon_and_sigterm_still_stops_it(
    aof_bin: str, root: Path
) -> None:
    """Each ended child sends SIGCHLD; a handler that took the wake-up event's lock once
    stalled the daemon for good (a second signal inside the first handler waited on the lock
    its own thread held). Thousands of them, while it ticks and commits, change nothing."""
    first = start_daemon(aof_bin, root)
    fleet = Fleet(root, actor="human:tester")
    try:
        wait_for(lambda: (root / ".aof" / "daemon.json").exists(), 30, "the daemon to start")
        before = json.loads((root / ".aof" / "daemon.json").read_text()).get("ticks", 0)
        deadline = time.monotonic() + 4
        made = 0
        while time.monotonic() < deadline:
            for _ in range(200):
                first.send_signal(signal.SIGCHLD)
            fleet.create_task(f"Storm {made}")  # work for the daemon's sweep and commits
            made += 1
        wait_for(
            lambda: (
                json.loads((root / ".aof" / "daemon.json").read_text()).get("ticks", 0) > before + 5
            ),
            30,
            "the daemon to go on ticking",
        )
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == 0
    assert (
        "received SIGTERM: stopping after this tick" in (root / "runs" / "daemon.log").read_text()
    )


def test_max_concurrent_changes_take_effect_without_restart(aof_bin: str, root: Path) -> None:
    configure(root, max_concurrent=1, demo_seconds=1.5)
    for i in range(6):
        Fleet(root).create_task(f"Wide {i}", ready=True)
    proc = start_daemon(aof_bin, root)
    try:
        fleet = Fleet(root)
        busy = lambda: len(fleet.list_tasks(states=["in-progress"]))  # noqa: E731
        wait_for(lambda: busy() == 1, 60, "one task in progress")
        time.sleep(0.5)
        assert busy() <= 1
        text = (root / "aof.yaml").read_text().replace("max_concurrent: 1", "max_concurrent: 3")
        (root / "aof.yaml").write_text(text)
        wait_for(lambda: busy() == 3, 60, "three tasks in progress after the reload")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    log = (root / "runs" / "daemon.log").read_text()
    assert "scheduler.max_concurrent: 1 -> 3" in log
