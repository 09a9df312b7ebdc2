"""tmux mode, end to end with real tmux: agents run in sessions on the fleet's private
socket, people attach to them (a real pty) and type into them, the agent's report ends
the session, and kill leaves nothing behind. Skipped where tmux is not installed."""

from __future__ import annotations

import json
import os
import pty
import shlex
import shutil
import subprocess
import sys
from typing import Any

import psutil
import pytest

from aof import State

from .test_agents import (
    aof,
    configure,
    daemon,
    fleet,
    outcome,
    run_dir,
    task,
    tree_of,
    wait_for,
    world,
)

__all__ = ["world"]  # the fixture, shared with test_agents

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture(autouse=True)
def _no_server_left(world: dict[str, Any]) -> Any:
    """Whatever a test leaves running (it failed half-way) ends with it."""
    yield
    from aof.runner.tmux import socket_name

    subprocess.run(["tmux", "-L", socket_name(world["root"]), "kill-server"], capture_output=True)


def tmux(row: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    return subprocess.run(
        ["tmux", "-L", row["tmux"]["socket"], *args], capture_output=True, text=True, env=env
    )


def screen(row: dict[str, Any]) -> str:
    return tmux(row, "capture-pane", "-p", "-t", row["tmux"]["session"]).stdout


def typed(world: dict[str, Any]) -> list[str]:
    if not world["log"].exists():
        return []
    calls = [json.loads(x) for x in world["log"].read_text().splitlines()]
    return [c["typed"] for c in calls if "typed" in c]


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def spawn(world: dict[str, Any], branch: str, *args: str, **env: str) -> dict[str, Any]:
    out = aof(world, "agent", "spawn", branch, "--prompt", f"Work on {branch}", "--project",
              "proj", "--coder", "claude", "--tmux", "--json", *args, **env)  # fmt: skip
    return dict(json.loads(out.stdout))


def test_a_tmux_agent_is_attached_to_typed_into_and_ends_when_it_reports(
    world: dict[str, Any],
) -> None:
    row = spawn(world, "fix-tty", FAKE_MODE="interactive")
    sock, session = row["tmux"]["socket"], row["tmux"]["session"]
    assert sock.startswith("aof-") and session == f"{row['task']}-1"
    wait_for(lambda: tmux(row, "has-session", "-t", session).returncode == 0)
    listed = tmux(row, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert listed == [session]  # the fleet's own server: nothing else on it
    wait_for(lambda: "fake claude ready (tty: True)" in screen(row))
    assert not (run_dir(world, row["task"]) / ".pane.env").exists()  # read, then removed
    # the interactive command line: the prompt as an argument, no headless -p
    argv = json.loads(world["log"].read_text().splitlines()[0])["argv"]
    assert "-p" not in argv and argv[-1].startswith("You are a coding agent working on task")

    # a person attaches (a real terminal), sees the agent, detaches
    printed = aof(world, "agent", "attach", "fix-tty", "--print", "--read-only").stdout
    assert shlex.split(printed)[1:] == ["-L", sock, "attach-session", "-r", "-t", session]
    primary, secondary = pty.openpty()
    attach = ["agent", "attach", "fix-tty", "--read-only"]
    viewer = subprocess.Popen(
        [sys.executable, "-m", "aof", "--root", str(world["root"]), *attach],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm", "TMUX": ""},
        start_new_session=True,
    )
    os.close(secondary)
    try:
        wait_for(lambda: tmux(row, "list-clients", "-t", session).stdout.strip() != "")
        assert tmux(row, "list-clients", "-F", "#{client_readonly}").stdout.split() == ["1"]
        tmux(row, "detach-client", "-s", session)
        viewer.wait(timeout=10)
    finally:
        if viewer.poll() is None:
            viewer.kill()
        os.close(primary)

    agents = json.loads(aof(world, "agent", "list", "--json").stdout)
    assert [(a["agent"], a["state"], a["tmux"]) for a in agents] == [
        ("fix-tty", "running", session)
    ]
    assert agents[0]["procs"] >= 3  # supervisor, and the pane's shell and coder

    out = json.loads(aof(world, "agent", "prompt", "fix-tty", "say hello", "--json").stdout)
    assert out["typed"] and out["run"] == row["run"]
    wait_for(lambda: typed(world) == ["say hello"])
    t = fleet(world).get_task(row["task"])
    assert t.state == State.IN_PROGRESS
    assert "typed into the agent's session: say hello" in t.body

    aof(world, "agent", "prompt", "fix-tty", "finish")
    wait_for(lambda: (run_dir(world, row["task"]) / "outcome.json").exists())
    result = outcome(world, row["task"])
    assert result["outcome"] == "completed" and result["worktree_removed"], result
    assert fleet(world).get_task(row["task"]).state == State.DONE
    assert tmux(row, "has-session", "-t", session).returncode != 0  # the session is gone
    assert (
        "hello from claude"
        in subprocess.run(
            ["git", "-C", str(world["repo"]), "show", "fix-tty:hello.txt"],
            capture_output=True,
            text=True,
        ).stdout
    )
    logs = aof(world, "agent", "logs", "fix-tty", "--raw").stdout
    assert "fake claude ready" in logs and "> say hello" in logs and "\x1b" not in logs


def test_kill_stops_a_tmux_agent_and_its_pane(world: dict[str, Any]) -> None:
    rows = [spawn(world, b, FAKE_MODE="interactive") for b in ("stop-a", "stop-b")]
    for row in rows:
        wait_for(lambda row=row: "ready" in screen(row))
    panes = {}
    for row in rows:
        info = json.loads((run_dir(world, row["task"]) / "tmux.json").read_text())
        panes[row["branch"]] = tree_of(info["pane_pid"])
        assert len(panes[row["branch"]]) >= 2  # the pane's shell and the coder
    killed = json.loads(aof(world, "agent", "kill", "stop-a", "--json").stdout)
    assert [k["stopped"] for k in killed] == [True]
    assert not alive(panes["stop-a"])
    assert tmux(rows[0], "has-session", "-t", rows[0]["tmux"]["session"]).returncode != 0
    assert alive(panes["stop-b"]) == panes["stop-b"]  # the other one goes on
    aof(world, "agent", "kill", "stop-b", "--force")
    assert not alive(panes["stop-b"])
    wait_for(lambda: tmux(rows[1], "list-sessions").returncode != 0)  # the server is gone too
    f = fleet(world)
    assert [f.get_task(r["task"]).state for r in rows] == [State.BLOCKED, State.BLOCKED]


def test_the_daemon_runs_in_tmux_when_configured(world: dict[str, Any]) -> None:
    configure(world["root"], "runner:\n  tmux: true\n")
    tid = task(world, "Tidy up", "--ready")
    daemon(world)
    assert fleet(world).get_task(tid).state == State.DONE
    assert (run_dir(world, tid) / "tmux.json").exists()
    assert outcome(world, tid)["outcome"] == "completed"
    events = (run_dir(world, tid) / "events.jsonl").read_text()
    assert '"tmux": {"socket": "aof-' in events and "session_start" in events


def test_headless_agents_say_how_to_watch_them_and_bad_config_is_named(
    world: dict[str, Any],
) -> None:
    out = aof(world, "agent", "spawn", "plain", "--prompt", "Work", "--project", "proj",
              "--json", AOF_DEMO_SECONDS="300")  # fmt: skip
    row = json.loads(out.stdout)
    assert row["tmux"] is None
    err = aof(world, "agent", "attach", "plain", code=4).stderr
    assert "runs headless" in err and "--tmux" in err and "aof agent logs plain -f" in err
    err = aof(world, "agent", "prompt", "plain", "more", code=4).stderr
    assert "headless" in err and "--tmux" in err
    aof(world, "agent", "kill", "plain")
    err = aof(world, "agent", "attach", "plain", code=4).stderr
    assert "is not running (blocked)" in err
    with (world["root"] / "aof.yaml").open("a") as f:  # not committed: the hook refuses it
        f.write("runner:\n  tmux: sometimes\n")
    err = aof(world, "agent", "list", code=7).stderr
    assert "runner.tmux" in err and "sometimes" in err
