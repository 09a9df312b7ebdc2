"""Done means verified, end to end through a real daemon and the demo coder: a command gate
aof runs (failing until the agent's second attempt) and a review by another agent; the task
reaches done only after both passed on the same head commit, and git and the audit tell the
whole story."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aof import Fleet
from aof.model.task import State

from .conftest import Cli, git, set_default_coder, sub_env
from .test_daemon_integration import finish, start_daemon

pytestmark = pytest.mark.slow

WORKFLOW = """schema: aof/workflow/v1
max_rejections: 3
gates:
  - name: tests
    run: "! grep -q 'Attempt 1[.]' aof-demo/$AOF_TASK_ID.md"   # fails on the first attempt only
    timeout_s: 60
  - name: code-review
    review: {role: reviewer}
"""


def fleet_with_reviewer(run: Cli, root: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# api\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial")
    text = (root / "aof.yaml").read_text()
    text += "coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: '0.1'}\n"
    (root / "aof.yaml").write_text(text)
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "configure")
    set_default_coder(root)
    run("team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    run("project", "create", "--team", "core", "--slug", "api", "--root-path", str(repo),
        "--workflow", "verified")  # fmt: skip
    run("agent", "create", "--slug", "coder-1", "--role", "coder")
    run("agent", "create", "--slug", "rev-1", "--role", "reviewer")
    (root / "workflows" / "verified.yaml").write_text(WORKFLOW)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "workflow")
    return repo


def test_gates_and_a_reviewer_take_a_task_to_done_only_when_verified(
    aof_bin: str, run: Cli, root: Path, tmp_path: Path
) -> None:
    repo = fleet_with_reviewer(run, root, tmp_path)
    tid = run.json("task", "create", "Add the endpoint", "--project", "api", "--ready",
                   "--label", "demo:reject-once")["id"]  # fmt: skip
    finish(start_daemon(aof_bin, root, "--until-idle"), root, 600)
    task = Fleet(root).get_task(tid)
    log = (root / "runs" / "daemon.log").read_text()
    assert task.state == State.DONE, log[-4000:]
    history = task.meta["gate"]["history"]
    story = [(h["gate"], h["outcome"], h["round"]) for h in history]
    # Attempt 1: the gate fails. Attempt 2: it passes, the reviewer rejects once.
    # Attempt 3: the gate passes again, the reviewer approves.
    assert story == [
        ("tests", "rejected", 1),
        ("tests", "passed", 2),
        ("code-review", "rejected", 2),
        ("tests", "passed", 3),
        ("code-review", "passed", 3),
    ]
    head = git(repo, "rev-parse", f"aof/{tid}").strip()
    assert history[-1]["sha"] == head and history[-2]["sha"] == head
    assert {h["by"] for h in history if h["gate"] == "code-review"} == {"agent:rev-1"}
    assert task.meta["gate"]["worker"] == "coder-1"
    assert "gate tests failed" in task.body and "## Feedback" in task.body
    assert "demo:reject-once" in task.body  # the reviewer's feedback
    assert task.meta["attempts"] == 3  # three claims, two rejections: one failed attempt
    # Each attempt left a commit of its own.
    commits = git(repo, "log", "--format=%s", f"main..aof/{tid}").splitlines()
    assert len(commits) == 3
    history_out = run("history", tid).stdout
    for word in ("gate_started", "rejected", "gate_passed", "approved", "(reviewed: "):
        assert word in history_out
    assert "(failed: " not in history_out  # a reviewer's run is not a failed attempt
    trail = git(root, "log", "--format=%s")
    assert f"task {tid}: review -> done" in trail
    # The reviewer's run had its own folder; the command gate's output is kept.
    runs = sorted(p.name for p in (root / "runs" / tid).iterdir())
    assert any("-review" in name for name in runs), runs
    assert (root / history[0]["log"]).is_file()


def test_an_agent_that_claims_done_while_its_gate_fails_never_reaches_done(
    aof_bin: str, run: Cli, root: Path, tmp_path: Path
) -> None:
    fleet_with_reviewer(run, root, tmp_path)
    (root / "workflows" / "verified.yaml").write_text(
        "max_rejections: 3\ngates:\n  - name: tests\n    run: exit 1\n"
    )
    with open(root / "aof.yaml", "a") as f:
        f.write(
            "notify:\n  channels:\n    log: 'file:notifications.jsonl'\n"
            "  rules:\n    - events: [rejected, rejected_cap]\n      channels: [log]\n"
        )
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "gate, notify")
    tid = run.json("task", "create", "Claims done", "--project", "api", "--ready")["id"]
    finish(start_daemon(aof_bin, root, "--until-idle"), root, 600)
    task = Fleet(root).get_task(tid)
    assert task.state == State.BLOCKED
    assert [h["outcome"] for h in task.meta["gate"]["history"]] == ["rejected"] * 3
    events = [
        json.loads(line).get("event")
        for path in sorted((root / "audit").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert events.count("rejected_cap") == 1
    # One notification for the cap (and one for each rejection before it), sent once.
    sent = [json.loads(x) for x in (root / ".aof" / "notifications.jsonl").read_text().splitlines()]
    assert [(m["event"], m["task"]) for m in sent] == [
        ("rejected", tid),
        ("rejected", tid),
        ("rejected_cap", tid),
    ]
    why = subprocess.run(
        [aof_bin, "--root", str(root), "why", tid], capture_output=True, text=True, env=sub_env()
    ).stdout
    assert "rejected 3 time(s)" in why
