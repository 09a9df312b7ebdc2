"""The agent runner end to end, with real processes: the demo coder and fake coder
executables that replay recorded claude/codex/aider output, each in its own worktree and
branch; typed outcomes; budgets; agent sessions (spawn, fanout, kill, prompt, list);
worktree pruning that never touches a live agent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from aof import Fleet, State
from aof.clock import SystemClock
from aof.journal.audit import AuditLog

from .conftest import git, set_default_coder, sub_env

FAKES = Path(__file__).parent / "fakes"
ID = ["-c", "user.name=t", "-c", "user.email=t@t"]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """A fleet root (system clock: real processes) with one team and one project repo."""
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("project\n")
    (repo / ".env").write_text("TOKEN=secret\n")
    git(repo, *ID, "add", "README.md")
    git(repo, *ID, "commit", "-qm", "init")
    fleet = Fleet.init(tmp_path / "fleet", actor="human:tester")
    root = fleet.root
    set_default_coder(root)
    fleet.registry.create(
        "team",
        "core",
        {"name": "Core", "mission": "m", "ownership": "company", "business_priority": 50},
    )
    fleet.registry.create(
        "project",
        "proj",
        {"team": "core", "root_path": str(repo), "credential_files": [".env"]},
    )
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("claude", "codex", "aider"):
        exe = bindir / name
        exe.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "fake_coder.py"}" {name} "$@"\n'
        )
        exe.chmod(0o755)
    # The fakes are steered by FAKE_* variables and run this checkout's aof: the coders'
    # clean environment lets those through by name.
    passthrough = "{env_passthrough: [FAKE_LOG, FAKE_MODE, FAKE_TRANSCRIPT, PYTHONPATH]}"
    configure(
        root, "coders:\n" + "".join(f"  {c}: {passthrough}\n" for c in ("claude", "codex", "aider"))
    )
    return {"root": root, "repo": repo, "bin": bindir, "log": tmp_path / "fake.log"}


def configure(root: Path, text: str) -> None:
    (root / "aof.yaml").write_text((root / "aof.yaml").read_text() + text)
    git(root, *ID, "commit", "-qam", "configure")


def aof(world: dict[str, Any], *args: str, code: int | None = 0, **env: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "aof", "--root", str(world["root"]), *args],
        capture_output=True,
        text=True,
        env=sub_env(PATH=f"{world['bin']}:{sub_env()['PATH']}", FAKE_LOG=str(world["log"]), **env),
        timeout=120,
    )
    if code is not None:
        assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def daemon(world: dict[str, Any], *args: str, **env: str) -> None:
    aof(world, "daemon", "--until-idle", "--interval", "0.2", "--quiet", *args, **env)


def task(world: dict[str, Any], *args: str) -> str:
    out = aof(world, "task", "create", *args, "--team", "core", "--project", "proj", "--json")
    return str(json.loads(out.stdout)["id"])


def fleet(world: dict[str, Any]) -> Fleet:
    return Fleet(world["root"], actor="human:tester")


def run_dir(world: dict[str, Any], tid: str, attempt: int = 1) -> Path:
    return Path(world["root"]) / "runs" / tid / str(attempt)


def outcome(world: dict[str, Any], tid: str, attempt: int = 1) -> dict[str, Any]:
    return json.loads((run_dir(world, tid, attempt) / "outcome.json").read_text())


def events(world: dict[str, Any], tid: str, attempt: int = 1) -> list[dict[str, Any]]:
    lines = (run_dir(world, tid, attempt) / "events.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def audit_actions(world: dict[str, Any], tid: str) -> list[str]:
    records = AuditLog(world["root"], SystemClock()).records()
    return [r["action"] for r in records if r["entity"]["id"] == tid]


@pytest.mark.parametrize("coder", ["claude", "codex", "aider", "demo"])
def test_a_task_runs_in_its_own_worktree_and_branch_and_reports(
    world: dict[str, Any], coder: str
) -> None:
    tid = task(world, f"Say hello with {coder}", "--ready", "--coder", coder)
    daemon(world)
    t = fleet(world).get_task(tid)
    assert t.state == State.DONE, t.text if hasattr(t, "text") else t.meta
    # The work is on the task's branch of the project, not on main.
    repo = world["repo"]
    assert git(repo, "log", "--format=%s", "main") == "init\n"
    branch_log = git(repo, "log", "--format=%s", f"aof/{tid}")
    assert branch_log.splitlines()[0].startswith((coder, tid))
    # The run: normalized events, a settled outcome, spending on the task.
    kinds = {e["event"] for e in events(world, tid)}
    assert {"worktree", "process_start", "session_start", "tool", "usage"} <= kinds
    assert outcome(world, tid)["outcome"] == "completed"
    assert t.meta["spent"]["tokens"] > 0
    # The coder ran in the worktree (credential file copied in), which is gone now
    # that the task is done; the branch stays.
    if coder != "demo":
        (call,) = [json.loads(x) for x in world["log"].read_text().splitlines()]
        assert call["cwd"].endswith(f"worktrees/{tid}")
        assert ".env" in call["files"] and "README.md" in call["files"]
        assert not Path(call["cwd"]).exists()
    assert "worktree" not in git(repo, "worktree", "list").split("\n", 1)[-1]
    # The fleet root recorded it all: committed, audited.
    assert git(world["root"], "status", "--porcelain") == ""
    actions = [a for a in audit_actions(world, tid) if a != "progress"]
    assert actions == ["created", "claimed", "completed", "run_ended"]


def test_headless_flags_reach_the_coder(world: dict[str, Any]) -> None:
    tid = task(world, "Flags", "--ready", "--coder", "claude", "--model", "opus")
    daemon(world)
    (call,) = [json.loads(x) for x in world["log"].read_text().splitlines()]
    argv = call["argv"]
    assert argv[0] == "-p" and "stream-json" in argv and "--model=opus" in argv
    assert tid in argv[1] and "aof task complete" in argv[1]  # the prompt: task + protocol


def test_a_question_blocks_and_the_answer_resumes_with_the_answer_seen(
    world: dict[str, Any],
) -> None:
    tid = task(world, "Pick an option", "--ready", "--label", "demo:ask")
    daemon(world)
    t = fleet(world).get_task(tid)
    assert t.state == State.BLOCKED and outcome(world, tid)["outcome"] == "asked"
    aof(world, "task", "answer", tid, "--text", "Take option B")
    daemon(world)
    assert fleet(world).get_task(tid).state == State.DONE
    note = git(world["repo"], "show", f"aof/{tid}:aof-demo/{tid}.md")
    assert "Answer taken: Take option B" in note
    # The second attempt's prompt carried what the first one left in its run folder.
    argv_env = json.loads((run_dir(world, tid, 2) / "run.json").read_text())
    assert argv_env["attempt"] == 2


def test_earlier_attempts_artifacts_reach_the_next_prompt(world: dict[str, Any]) -> None:
    tid = task(world, "Resume me", "--ready", "--coder", "claude")
    f = fleet(world)
    token = f.claim(tid, "earlier").lease["token"]  # attempt 1, which leaves notes
    first = run_dir(world, tid, 1)
    first.mkdir(parents=True)
    (first / "notes.md").write_text("Tried approach A; it broke the build.\n")
    f.release(tid, token=token, reason="handing over")
    daemon(world)
    (call,) = [json.loads(x) for x in world["log"].read_text().splitlines()]
    prompt = call["argv"][1]
    assert "What earlier attempts left" in prompt and "Tried approach A" in prompt


def test_a_usage_limit_pauses_the_coder_without_using_an_attempt(world: dict[str, Any]) -> None:
    tid = task(world, "Limited", "--ready", "--coder", "claude")
    aof(world, "daemon", "--once", "--quiet", FAKE_MODE="limit")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists())
    assert outcome(world, tid)["outcome"] == "usage-limited"
    t = fleet(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 0
    pauses = json.loads((world["root"] / ".aof" / "coder-pauses.json").read_text())
    assert pauses["claude"]["until"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    why = aof(world, "why", tid).stdout
    assert "coder claude is paused until" in why


def test_exit_zero_without_reporting_is_never_done(world: dict[str, Any]) -> None:
    tid = task(world, "Silent", "--ready", "--coder", "codex")
    aof(world, "daemon", "--once", "--quiet", FAKE_MODE="silent")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists())
    t = fleet(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 1
    assert "without reporting" in t.meta["last_error"]
    assert outcome(world, tid)["outcome"] == "exited-without-reporting"


def test_context_exhaustion_is_not_counted(world: dict[str, Any]) -> None:
    tid = task(world, "Too big", "--ready", "--label", "demo:context")
    aof(world, "daemon", "--once", "--quiet")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists())
    assert outcome(world, tid)["outcome"] == "context-exhausted"
    t = fleet(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 0


def test_a_run_over_its_budget_is_stopped_with_the_reason_on_the_task(
    world: dict[str, Any],
) -> None:
    tid = task(world, "Expensive", "--ready", "--label", "demo:expensive")
    f = fleet(world)
    f.edit_task(tid, set_fields={"budget": {"tokens": 1000}})
    daemon(world)
    t = f.get_task(tid)
    assert t.state == State.BLOCKED
    assert "over its token budget" in t.meta["blocked"]["reason"]
    assert "(budget.tokens)" in t.meta["blocked"]["reason"]
    assert t.meta["spent"]["tokens"] > 1000
    assert outcome(world, tid)["outcome"] == "over-budget"


def test_a_stuck_coder_is_flagged_then_stopped(world: dict[str, Any]) -> None:
    configure(world["root"], "runner:\n  stuck_notify_s: 0.5\n  stuck_kill_s: 2\n")
    tid = task(world, "Hangs", "--ready", "--label", "demo:hang")
    aof(world, "daemon", "--once", "--quiet")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists())
    assert outcome(world, tid)["outcome"] == "stuck"
    t = fleet(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 1
    assert "no output for" in t.meta["last_error"]
    assert "stuck" in audit_actions(world, tid)


def test_daemon_coder_overrides_the_fleet_default(world: dict[str, Any]) -> None:
    tid = task(world, "Default coder", "--ready")
    daemon(world, "--coder", "codex")
    assert fleet(world).get_task(tid).state == State.DONE
    (call,) = [json.loads(x) for x in world["log"].read_text().splitlines()]
    assert call["coder"] == "codex"
    bad = aof(world, "daemon", "--once", "--coder", "nope", code=None)
    assert bad.returncode != 0 and "not known" in bad.stderr


# --- agent sessions ------------------------------------------------------------------------------


def tree_of(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return []


def wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_spawn_runs_at_once_without_a_daemon(world: dict[str, Any]) -> None:
    out = aof(world, "agent", "spawn", "fix-login", "--prompt", "Fix the login", "--project",
              "proj", "--json")  # fmt: skip
    row = json.loads(out.stdout)
    assert row["branch"] == "fix-login" and row["started"]
    wait_for(lambda: (run_dir(world, row["task"]) / "outcome.json").exists())
    t = fleet(world).get_task(row["task"])
    assert t.state == State.DONE and t.meta["branch"] == "fix-login"
    assert "aof-demo" in git(world["repo"], "show", "--stat", "fix-login")
    listed = json.loads(aof(world, "agent", "list", "--all", "--json").stdout)
    assert [r["agent"] for r in listed] == ["fix-login"]
    logs = aof(world, "agent", "logs", "fix-login").stdout
    assert "session_start" in logs and "[git_commit]" in logs


def test_fanout_yields_worktrees_branches_runs_and_one_batch(world: dict[str, Any]) -> None:
    # The agents run until they are killed below: a busy machine starts them far apart.
    out = aof(world, "agent", "fanout", "5", "try", "--prompt", "Make it faster", "--project",
              "proj", "--json", AOF_DEMO_SECONDS="300")  # fmt: skip
    data = json.loads(out.stdout)
    agents = data["agents"]
    assert len(agents) == 5 and {a["batch"] for a in agents} == {data["batch"]}
    assert sorted(a["branch"] for a in agents) == [f"try-{i}" for i in range(1, 6)]

    # Each agent's supervisor makes its worktree as it starts: on a busy machine that can be
    # a moment after `fanout` returned.
    def trees() -> list[dict[str, Any]]:
        return list(json.loads(aof(world, "worktree", "list", "--json").stdout))

    wait_for(lambda: len(trees()) == 5 and all(t["live"] for t in trees()), timeout=120)
    branches = git(world["repo"], "branch", "--format=%(refname:short)").split()
    assert {f"try-{i}" for i in range(1, 6)} <= set(branches)

    def listed() -> list[dict[str, Any]]:
        return list(json.loads(aof(world, "agent", "list", "--json").stdout))

    wait_for(lambda: sum(r["state"] == "running" for r in listed()) == 5, timeout=60)
    assert all(r["mem_mb"] and r["elapsed_s"] is not None for r in listed())
    grouped = aof(world, "agent", "list", "--grouped").stdout
    assert f"# batch {data['batch']}" in grouped
    # prune never removes a live agent's worktree, even when its task is finished
    f = fleet(world)
    with f.overriding("no longer needed"):  # the agent still holds it
        f.cancel(agents[0]["task"], reason="no longer needed")
    pruned = json.loads(aof(world, "worktree", "prune", "--json").stdout)
    first = next(r for r in pruned if r["task"] == agents[0]["task"])
    assert first["action"] == "kept" and "alive" in first["reason"]
    assert Path(first["path"]).exists()
    killed = json.loads(aof(world, "agent", "kill", "--batch", data["batch"], "--json").stdout)
    assert len(killed) == 5 and all(k["stopped"] for k in killed)
    # Once its agent is gone, the cancelled task's worktree goes too (its supervisor
    # removed it on the way out); the killed ones are blocked and keep theirs.
    pruned = json.loads(aof(world, "worktree", "prune", "--json").stdout)
    assert not Path(first["path"]).exists()
    assert sorted(r["reason"] for r in pruned) == ["task is blocked"] * 4
    assert agents[0]["branch"] in git(world["repo"], "branch")  # the work stays


def test_kill_by_glob_leaves_no_orphans_and_spares_the_rest(world: dict[str, Any]) -> None:
    pairs = ["fix-a:Fix a", "fix-b:Fix b", "keep-c:Keep c"]
    out = aof(world, "agent", "multi", *pairs, "--project", "proj", "--json",
              AOF_DEMO_SECONDS="300")  # fmt: skip
    agents = {a["branch"]: a for a in json.loads(out.stdout)["agents"]}
    wait_for(lambda: all(len(tree_of(a["pid"])) >= 2 for a in agents.values()))
    fix_pids = [p for b in ("fix-a", "fix-b") for p in tree_of(agents[b]["pid"])]
    killed = json.loads(aof(world, "agent", "kill", "fix-*", "--json").stdout)
    assert sorted(k["agent"] for k in killed) == ["fix-a", "fix-b"]
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == "zombie" for p in fix_pids)
    keep = tree_of(agents["keep-c"]["pid"])
    assert keep and all(psutil.pid_exists(p) for p in keep)
    f = fleet(world)
    for b in ("fix-a", "fix-b"):
        t = f.get_task(agents[b]["task"])
        assert t.state == State.BLOCKED and "aof agent kill" in t.meta["blocked"]["reason"]
    aof(world, "agent", "kill", "keep-c", "--force")
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in keep)
    assert f.get_task(agents["keep-c"]["task"]).state == State.BLOCKED


def test_prompt_follows_up_on_a_finished_agent_resuming_its_session(
    world: dict[str, Any],
) -> None:
    row = json.loads(
        aof(
            world,
            "agent",
            "spawn",
            "docs",
            "--prompt",
            "Write docs",
            "--project",
            "proj",
            "--coder",
            "claude",
            "--json",
        ).stdout
    )
    wait_for(lambda: (run_dir(world, row["task"]) / "outcome.json").exists())
    follow = json.loads(aof(world, "agent", "prompt", "docs", "Also add examples", "--json").stdout)
    assert follow["follow_up_of"] == row["task"] and follow["resumed"] == "4f2d8a1e-claude-session"
    wait_for(lambda: (run_dir(world, follow["task"]) / "outcome.json").exists())
    calls = [json.loads(x) for x in world["log"].read_text().splitlines()]
    assert "--resume=4f2d8a1e-claude-session" in calls[-1]["argv"]
    child = fleet(world).get_task(follow["task"])
    assert child.meta["parent"] == row["task"] and child.meta["branch"] == "docs"


def test_setup_commands_run_in_a_new_worktree_unless_quick(world: dict[str, Any]) -> None:
    f = fleet(world)
    f.registry.update("project", "proj", {"setup": ["touch setup-ran", "echo set up"]})
    for branch, quick in (("slow", []), ("quick", ["--quick"])):
        row = json.loads(
            aof(
                world,
                "agent",
                "spawn",
                branch,
                "--prompt",
                "Go",
                "--project",
                "proj",
                "--coder",
                "codex",
                *quick,
                "--json",
            ).stdout
        )
        wait_for(lambda row=row: (run_dir(world, row["task"]) / "outcome.json").exists())
    files = [json.loads(x)["files"] for x in world["log"].read_text().splitlines()]
    assert ["setup-ran" in f for f in files] == [True, False]  # --quick skipped the setup
    assert all(".env" in f for f in files)  # credentials are copied either way


def test_logs_follow_and_top_show_a_live_agent(world: dict[str, Any]) -> None:
    row = json.loads(
        aof(
            world,
            "agent",
            "spawn",
            "watch-me",
            "--prompt",
            "Go",
            "--project",
            "proj",
            "--json",
            AOF_DEMO_SECONDS="1.5",
        ).stdout
    )
    wait_for(lambda: (run_dir(world, row["task"]) / "events.jsonl").exists())
    top = aof(world, "top", "--once").stdout
    assert top.splitlines()[0].split()[:3] == ["AGENT", "STATE", "CODER"]
    assert "watch-me" in top and "running" in top
    followed = aof(world, "agent", "logs", "watch-me", "-f").stdout  # returns when it ends
    assert "runner_end: outcome=completed" in followed
    raw = aof(world, "agent", "logs", "watch-me", "--raw").stdout
    assert "==> stdout.log <==" in raw and '"demo": "start"' in raw


def test_session_input_errors_are_clear_and_write_nothing(world: dict[str, Any]) -> None:
    before = git(world["root"], "rev-parse", "HEAD")
    bad = aof(world, "agent", "spawn", "bad..name", "--prompt", "x", "--project", "proj", code=None)
    assert bad.returncode != 0 and "branch" in bad.stderr
    bad = aof(world, "agent", "spawn", "ok", "--prompt", "x", "--project", "ghost", code=None)
    assert bad.returncode != 0 and "project 'ghost' not found" in bad.stderr
    bad = aof(world, "agent", "spawn", "ok", "--prompt", "x", "--project", "proj", "--coder",
              "nope", code=None)  # fmt: skip
    assert bad.returncode != 0 and "not known" in bad.stderr
    bad = aof(world, "agent", "multi", "no-colon", "--project", "proj", code=None)
    assert bad.returncode == 2 and "BRANCH:PROMPT" in bad.stderr
    bad = aof(world, "agent", "kill", code=None)
    assert bad.returncode != 0 and "PATTERN" in bad.stderr
    assert git(world["root"], "rev-parse", "HEAD") == before
