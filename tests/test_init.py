"""A new fleet root: no default coder (nothing runs until one is named), the example registry
only on request."""

from __future__ import annotations

import json
from pathlib import Path

from aof import FixedClock, Fleet
from aof.coders.resolve import NO_CODER
from aof.scheduler.daemon import Daemon

from .conftest import Cli, git, git_clean
from .test_daemon import RecordingExecutor


def test_a_new_fleet_names_no_coder_so_nothing_is_dispatched_and_plan_says_why(
    run: Cli, root: Path, clock: FixedClock
) -> None:
    assert Fleet(root).config.defaults["coder"] is None
    assert "\n  coder:" not in (root / "aof.yaml").read_text()  # only a comment shows one
    tid = run.json("task", "create", "Real work", "--ready")["id"]
    plan = run.json("plan")
    assert plan["actions"] == []
    assert plan["waiting"] == [{"task": tid, "reason": NO_CODER}]
    assert NO_CODER == "no coder configured (set defaults.coder in aof.yaml, or --coder)"
    assert run("why", tid).stdout == f"{tid} is ready but not dispatched: {NO_CODER}.\n"

    executor = RecordingExecutor()
    daemon = Daemon(root, clock=clock, executor=executor, watch=False, log_to_stderr=False)
    daemon.acquire()
    try:
        assert daemon.tick()["dispatched"] == [] and executor.specs == {}
    finally:
        daemon.shutdown()
    assert run.json("task", "show", tid)["state"] == "ready"  # no attempt was spent on it

    # `aof daemon --coder demo` counts as configured.
    daemon = Daemon(
        root, clock=clock, executor=executor, watch=False, log_to_stderr=False, coder="demo"
    )
    daemon.acquire()
    try:
        assert [d["task"] for d in daemon.tick()["dispatched"]] == [tid]
    finally:
        daemon.shutdown()
    assert [s.coder for s in executor.specs.values()] == ["demo"]


def test_an_agent_that_pulls_work_gets_a_task_that_names_no_coder(run: Cli) -> None:
    tid = run.json("task", "create", "Pull me", "--ready")["id"]
    got = run.json("task", "next", "--agent", "coder-1", "--claim")
    assert got["task"]["id"] == tid and got["token"] and got["coder"] is None


def test_a_coder_named_by_an_agent_profile_or_the_task_is_enough(fleet: Fleet) -> None:
    fleet.registry.create("agent", "idle", {"roles": ["coder"]})
    fleet.registry.create("agent", "worker", {"roles": ["coder"], "coder": "demo"})
    by_agent = fleet.create_task("by agent", ready=True)
    plan = fleet.plan()
    assert [(a["task"], a["agent"], a["coder"]) for a in plan["actions"]] == [
        (by_agent.id, "worker", "demo")  # "idle" may take it too, but has no coder
    ]
    fleet.registry.update("agent", "worker", {"coder": None})
    own = fleet.create_task("own coder", ready=True, fields={"coder": "demo"})
    plan = fleet.plan()
    assert [(a["task"], a["coder"]) for a in plan["actions"]] == [(own.id, "demo")]
    assert plan["waiting"] == [{"task": by_agent.id, "reason": NO_CODER}]


def test_agent_spawn_without_a_coder_is_refused_before_any_task(run: Cli, root: Path) -> None:
    err = run("agent", "spawn", "try", "--prompt", "Do it", code=7).stderr
    assert err == f"Error: {NO_CODER}\n"
    assert run.json("task", "list") == []


def test_init_adds_the_example_team_and_project_only_with_example(tmp_path: Path) -> None:
    plain = Fleet.init(tmp_path / "plain", actor="human:t").root
    assert Cli(plain).json("team", "list") == [] and Cli(plain).json("project", "list") == []
    assert sorted(p.name for p in (plain / "teams").iterdir()) == [".gitkeep"]
    assert not (plain / "example").exists()

    out = Cli(tmp_path)("init", str(tmp_path / "demo"), "--example", "--json").stdout
    root = Path(json.loads(out)["root"])
    cli = Cli(root)
    assert [t["slug"] for t in cli.json("team", "list")] == ["example"]
    assert [(p["slug"], p["enabled"]) for p in cli.json("project", "list")] == [("example", False)]
    assert cli("lint").stdout == "ok: every file is valid\n"
    assert git_clean(root) and "teams/example.md" in git(root, "ls-files")
