"""The machine a fleet runs on: `aof doctor` checks git, tmux, the coders in use, the MCP
package and free disk space; a coder whose program is missing is a reason in the plan
(recorded with the tick for replay), never a burnt attempt."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet, State
from aof.clock import parse_time
from aof.ops import envcheck
from aof.planner.plan import plan
from aof.scheduler.daemon import Daemon

from .conftest import Cli, git, set_default_coder
from .test_daemon import RecordingExecutor
from .test_planner import snap_with

NOW = parse_time("2026-11-23T10:00:00Z")
MISSING = "coder claude not installed: `claude` is not on PATH"


@pytest.fixture
def bindir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH that holds git and nothing else (no coder, no tmux)."""
    path = tmp_path / "bin"
    path.mkdir()
    (path / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(path))
    return path


def install(bindir: Path, name: str) -> None:
    exe = bindir / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)


def snap(tasks: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    return snap_with(tasks, **{"coders_missing": {}, **over})


def ready(tid: str, **kw: Any) -> dict[str, Any]:
    return {"id": tid, "state": "ready", "priority": "normal", "created": "2026-11-20", **kw}


def test_the_planner_gives_a_missing_coder_as_the_reason() -> None:
    config = {"scheduler": {"max_concurrent": 4}, "defaults": {"coder": "claude"}}
    missing = snap([ready("t-0001")], coders_missing={"claude": "claude"})
    assert plan(missing, NOW, config)["waiting"] == [{"task": "t-0001", "reason": MISSING}]
    # An agent that asks for work itself is the worker: the coder's program does not matter.
    pulled = plan(missing, NOW, config, pull=True)["actions"]
    assert [(a["kind"], a["task"]) for a in pulled] == [("dispatch", "t-0001")]
    # Of the agents that may take it, one whose coder is installed gets it.
    agents = {"a1": {"coder": None}, "a2": {"coder": "demo"}}
    with_agents = snap([ready("t-0001")], agents=agents, coders_missing={"claude": "claude"})
    (action,) = plan(with_agents, NOW, config)["actions"]
    assert (action["agent"], action["coder"]) == ("a2", "demo")
    by_path = snap([ready("t-0001", coder="mine")], coders_missing={"mine": "/opt/mine"})
    assert plan(by_path, NOW, config)["waiting"][0]["reason"] == (
        "coder mine not installed: `/opt/mine` does not exist or is not executable"
    )


def test_a_missing_coder_is_a_doctor_problem_and_no_attempt_is_spent(
    bindir: Path, root: Path, clock: FixedClock
) -> None:
    set_default_coder(root, "claude")
    fleet = Fleet(root, clock=clock, actor="human:t")
    waits = fleet.create_task("needs claude", ready=True)
    runs = fleet.create_task("runs on demo", ready=True, fields={"coder": "demo"})
    later = fleet.create_task("later", fields={"coder": "nosuch"})  # backlog: never planned

    report = fleet.doctor().to_json()
    problems = [(p["kind"], p["path"], p["message"]) for p in report["problems"]]
    assert report["ok"] is False and problems[0] == ("coder", "aof.yaml", MISSING)
    assert problems[1][:2] == ("coder", fleet.tasks.rel(later.path))
    assert "coder 'nosuch' is not known" in problems[1][2]
    assert len(problems) == 2  # git, the MCP package and the disk are fine
    assert fleet.why(waits.id) == f"{waits.id} is ready but not dispatched: {MISSING}."

    executor = RecordingExecutor()
    daemon = Daemon(root, clock=clock, executor=executor, watch=False, log_to_stderr=False)
    daemon.acquire()
    try:
        report = daemon.tick()
    finally:
        daemon.shutdown()
    assert [d["task"] for d in report["dispatched"]] == [runs.id]
    task = fleet.get_task(waits.id)
    assert task.state == State.READY and task.meta.get("attempts", 0) == 0
    body = git(root, "log", "-1", "--format=%B")
    assert 'Plan-Coders-Missing: {"claude": "claude"}' in body

    # Installed since: the live plan dispatches it, the replay still sees the tick's machine.
    install(bindir, "claude")
    replayed = fleet.replay("HEAD")
    assert replayed["match"] is True
    assert {"task": waits.id, "reason": MISSING} in replayed["plan"]["waiting"]
    live = Fleet(root, clock=clock).plan()
    assert waits.id in [a["task"] for a in live["actions"] if a["kind"] == "dispatch"]
    assert [p.message for p in fleet.doctor().problems if p.kind == "coder"] == [problems[1][2]]


def test_doctor_checks_git_tmux_and_the_mcp_package(
    bindir: Path, root: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("doctor").stdout == "ok: no problems found\n"
    with (root / "aof.yaml").open("a") as f:
        f.write("runner:\n  tmux: true\n")
    monkeypatch.setattr(envcheck, "MIN_GIT", (99, 0))
    monkeypatch.setattr(envcheck, "MCP_MODULE", "aof_no_such_package")
    out = run("doctor", code=1).stdout.splitlines()
    have = ".".join(map(str, envcheck.git_version() or ()))
    assert out == [
        f"problem: git: git {have} is older than 99.0, which aof needs",
        "problem: aof.yaml: runner.tmux is on, but tmux mode needs tmux on PATH (not found); "
        "run headless instead",
        "problem: aof_no_such_package: the MCP server's package `aof_no_such_package` is not "
        "installed: `aof mcp serve` cannot start (reinstall aof with its dependencies)",
    ]


def test_little_free_disk_is_a_warning_that_leaves_doctor_ok(
    root: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envcheck, "DISK_WARN_BYTES", 1 << 60)
    result = run("doctor")  # exit 0
    free = shutil.disk_usage(root).free
    assert result.stdout.startswith("warning: .: only ") and "GiB free" in result.stdout
    assert f"{free / (1 << 30):.1f} GiB" in result.stdout
    data = json.loads(run("doctor", "--json").stdout)
    assert data["ok"] is True and data["problems"][0]["warning"] is True


def test_the_snapshot_looks_coders_up_only_when_a_task_is_ready(
    bindir: Path, root: Path, clock: FixedClock
) -> None:
    set_default_coder(root, "claude")
    fleet = Fleet(root, clock=clock, actor="human:t")
    assert fleet.snapshot()["coders_missing"] == {}
    fleet.create_task("x", ready=True)
    assert fleet.snapshot()["coders_missing"] == {"claude": "claude"}
    env_path = bindir.parent / "elsewhere"
    env_path.mkdir()
    install(env_path, "claude")
    with (root / "aof.yaml").open("a") as f:  # a coder's own PATH is where it is looked up
        f.write(f"coders:\n  claude:\n    env: {{PATH: '{env_path}{os.pathsep}/usr/bin'}}\n")
    assert Fleet(root, clock=clock).snapshot()["coders_missing"] == {}


def test_agent_spawn_with_a_missing_coder_is_refused_before_any_task(
    bindir: Path, run: Cli
) -> None:
    err = run("agent", "spawn", "try", "--prompt", "Do it", "--coder", "claude", code=7).stderr
    assert err == f"Error: {MISSING}\n"
    assert run.json("task", "list") == []
