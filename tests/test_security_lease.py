"""Attacks on leases, agents' reach, credentials and coder argv, each carried out for real:
a lease token is its holder's capability only, agents are confined to their task, credential
files never reach git or a place outside the worktree, and coder argv cannot be steered into
options."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet, State
from aof.clock import FixedClock
from aof.errors import LeaseError

from .conftest import Cli, git
from .test_agents import ID, aof, run_dir, wait_for, world
from .test_agents import fleet as world_fleet
from .test_mcp import call, error, ok, serve

__all__ = ["world"]  # a fixture, shared with test_agents


def _all_text(root: Path) -> str:
    """Every file of the fleet root and its whole git history, as one text."""
    parts = [git(root, "log", "-p", "--all")]
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


# --- a lease token is a capability of its holder only ---------------------------------------


def test_the_token_is_given_to_the_claimant_only_never_written(fleet: Fleet, root: Path) -> None:
    tid = fleet.create_task("Secret lease", ready=True).id
    token = fleet.claim(tid, "coder-1").lease["token"]
    agent = Fleet(root, clock=fleet.clock, actor="agent:coder-1")
    agent.heartbeat(tid, token)
    agent.progress(tid, note="halfway", token=token)
    on_disk = fleet.get_task(tid).lease
    assert "token" not in on_disk and len(on_disk["token_sha256"]) == 64
    assert token not in _all_text(root)  # task file, audit, heartbeats, git history
    assert token.split("-", 1)[1] not in _all_text(root)
    assert fleet.task_json(fleet.get_task(tid))["lease"].get("token") is None
    agent.complete(tid, token=token, summary="done")
    assert fleet.get_task(tid).state == State.DONE


def test_a_lease_written_with_a_plain_token_still_verifies_and_is_hashed_on_write(
    fleet: Fleet, root: Path
) -> None:
    tid = fleet.create_task("Old lease", ready=True).id
    fleet.claim(tid, "coder-1")
    path = fleet.get_task(tid).path
    text = path.read_text(encoding="utf-8")
    start = text.index("token_sha256: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + "token: 1-oldplaintoken" + text[end:], encoding="utf-8")
    agent = Fleet(root, clock=fleet.clock, actor="agent:coder-1")
    with pytest.raises(LeaseError):
        agent.progress(tid, note="wrong", token="1-guessedtoken00")
    agent.progress(tid, note="still mine", token="1-oldplaintoken")
    after = path.read_text(encoding="utf-8")
    assert "1-oldplaintoken" not in after and "token_sha256:" in after
    agent.complete(tid, token="1-oldplaintoken", summary="done")


def test_mcp_readers_never_see_a_token_and_another_agent_cannot_use_one(
    root: Path, clock: FixedClock
) -> None:
    a = serve(root, clock, profile="agent", actor="agent:coder-1")
    b = serve(root, clock, profile="agent", actor="agent:coder-2")
    Fleet(root, clock=clock).create_task("A's work", ready=True)
    claimed = ok(call(a, "aof_claim"))
    tid, token = claimed["task"]["id"], claimed["token"]
    seen = json.dumps(ok(call(b, "aof_task", task=tid)))
    assert token not in seen and "token_sha256" in seen

    async def resources(client: object) -> str:
        task = await client.read_resource(f"aof://tasks/{tid}")  # type: ignore[attr-defined]
        over = await client.read_resource("aof://fleet/overview")  # type: ignore[attr-defined]
        return str(task) + str(over)

    from .test_mcp import session

    assert token not in session(b, resources)
    # Even holding A's token (leaked by any means), B cannot act on A's task.
    assert "held by coder-1, not by you" in error(call(b, "aof_heartbeat", task=tid, token=token))
    assert "held by coder-1" in error(call(b, "aof_complete", task=tid, token=token, summary="B"))
    assert Fleet(root, clock=clock).get_task(tid).state == State.IN_PROGRESS
    ok(call(a, "aof_complete", summary="done by A"))


def test_a_person_without_the_token_needs_force_and_a_reason(run: Cli, root: Path) -> None:
    tid = run.json("task", "create", "Held", "--ready")["id"]
    run.json("task", "claim", tid, "--agent", "coder-1")
    refused = run("task", "complete", tid, "--summary", "by hand", code=8)
    assert "held by coder-1" in refused.stderr and "--force --reason" in refused.stderr
    assert (
        "--force needs --reason"
        in run("task", "complete", tid, "--summary", "by hand", "--force", code=2).stderr
    )
    run("task", "complete", tid, "--summary", "by hand", "--force", "--reason", "agent is stuck")
    records = [
        json.loads(line)
        for p in (root / "audit").rglob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    record = next(r for r in records if r["action"] == "completed")
    assert record["reason"] == "agent is stuck"
    assert record["changes"]["override"] == {"lease_holder": "coder-1", "fence": 1}


@pytest.mark.parametrize("verb", [("cancel", "--reason", "not needed"),
                                  ("move", "ready", "--reason", "back to the queue")])  # fmt: skip
def test_a_held_task_is_cancelled_or_moved_only_by_an_override(
    run: Cli, root: Path, verb: tuple[str, ...]
) -> None:
    tid = run.json("task", "create", "Held", "--ready")["id"]
    run.json("task", "claim", tid, "--agent", "coder-1")
    refused = run("task", verb[0], tid, *verb[1:], code=8)
    assert "held by coder-1" in refused.stderr
    assert run.json("task", "show", tid)["state"] == "in-progress"
    run("task", verb[0], tid, *verb[1:], "--force")
    records = [
        json.loads(line)
        for p in (root / "audit").rglob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    (record,) = [r for r in records if r["action"] in ("cancelled", "moved")]
    assert record["entity"]["id"] == tid and record["reason"] == verb[-1]
    assert record["changes"]["override"] == {"lease_holder": "coder-1", "fence": 1}


def test_a_person_may_pull_the_brake_on_a_held_task_and_it_is_recorded(
    run: Cli, root: Path
) -> None:
    """Blocking on a question stops the holder's work and destroys none: a person may do it
    without --force, and the record names the lease it overrode, the question its reason."""
    tid = run.json("task", "create", "Held", "--ready")["id"]
    run.json("task", "claim", tid, "--agent", "coder-1")
    assert run.json("task", "block", tid, "--question", "Why the new table?")["state"] == "blocked"
    records = [
        json.loads(line)
        for p in (root / "audit").rglob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    (record,) = [r for r in records if r["action"] == "blocked"]
    assert record["reason"] == "Why the new table?"
    assert record["changes"]["override"] == {"lease_holder": "coder-1", "fence": 1}
    env = {"AOF_ACTOR": "agent:coder-2"}
    other = run.json("task", "create", "Also held", "--ready")["id"]
    run.json("task", "claim", other, "--agent", "coder-3")
    run("task", "block", other, "--question", "mine?", code=8, env=env)  # not an agent's brake


def test_an_agent_cannot_force(run: Cli) -> None:
    tid = run.json("task", "create", "Held", "--ready")["id"]
    run.json("task", "claim", tid, "--agent", "coder-1")
    env = {"AOF_ACTOR": "agent:coder-2"}
    args = ("--summary", "x", "--force", "--reason", "mine")
    r = run("task", "complete", tid, *args, code=8, env=env)
    assert "--force: not allowed in an agent" in r.stderr


# --- agents are confined to their task --------------------------------------------------------


def test_an_agents_environment_acts_only_on_its_own_task(run: Cli, root: Path) -> None:
    run("team", "create", "--slug", "web", "--name", "Web", "--mission", "m", "--ownership",
        "company")  # fmt: skip
    mine = run.json("task", "create", "Mine", "--ready")["id"]
    other = run.json("task", "create", "Other", "--ready")["id"]
    token = run.json("task", "claim", mine, "--agent", "coder-1")["token"]
    run.json("task", "claim", other, "--agent", "coder-2")
    env = {"AOF_ACTOR": "agent:coder-1", "AOF_TASK_ID": mine, "AOF_LEASE_TOKEN": token}
    spoof = run("--actor", "human:ceo", "task", "complete", "--summary", "x", code=8, env=env)
    assert "acts as itself only" in spoof.stderr
    for args in (
        ("team", "update", "web", "--mission", "pwned"),
        ("team", "create", "--slug", "evil", "--name", "E", "--mission", "m",
         "--ownership", "company"),
        ("task", "complete", other, "--summary", "not mine"),
        ("task", "answer", other, "--text", "x"),
        ("init", str(root / "again")),
        ("mcp", "serve", "--tools", "all"),
    ):  # fmt: skip
        assert "agent" in run(*args, code=8, env=env).stderr, args
    child = run.json("task", "create", "Hand-off", "--parent", mine, env=env)
    assert child["created_by"] == "agent:coder-1"
    run("task", "progress", "--note", "working", env=env)
    run("task", "complete", "--summary", "done", env=env)
    assert Fleet(root).get_task(other).state == State.IN_PROGRESS
    assert Fleet(root).registry.get("team", "web").meta["mission"] == "m"


def test_the_claude_allowlist_is_not_a_shell() -> None:
    from aof.coders.adapters import Invocation, get

    argv = get("claude").argv(
        Invocation(task_id="t-abc123", title="T", prompt="do it", root="/r", cwd="/w")
    )
    tools = argv[argv.index("--allowedTools") + 1 :]
    assert "Bash(git:*)" not in argv and "Bash(git commit:*)" in tools
    git_tools = [t for t in tools if t.startswith("Bash(git")]
    assert all(t.startswith("Bash(git ") and " -" not in t for t in git_tools)
    assert not any("config" in t for t in git_tools)


# --- coders get a clean environment; credentials never reach git or leave the worktree ---------


def _spawn(world: dict[str, Any], branch: str, *args: str, **env: str) -> str:
    out = aof(world, "agent", "spawn", branch, "--prompt", "work", "--project", "proj",
              "--json", *args, **env)  # fmt: skip
    tid = str(json.loads(out.stdout)["task"])
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists(), timeout=120)
    return tid


def test_a_coder_inherits_no_server_token_nor_cloud_keys(world: dict[str, Any]) -> None:
    config = world["root"] / "aof.yaml"
    config.write_text(
        config.read_text().replace(
            "coders:\n",
            "coders:\n  dump:\n    command: [/bin/sh, -c, 'env > \"$AOF_RUN_DIR/env.txt\"']\n"
            "    env: {MY_SETTING: from-aof-yaml}\n",
        )
    )
    git(world["root"], *ID, "commit", "-qam", "a coder that shows its environment")
    tid = _spawn(world, "envprobe", "--coder", "dump", "--quick",
                 AOF_MCP_TOKEN="aof_SERVER_TOKEN=human:root", AWS_SECRET_ACCESS_KEY="awsKEY",
                 ANTHROPIC_API_KEY="sk-not-for-dump")  # fmt: skip
    seen = dict(
        line.split("=", 1)
        for line in (run_dir(world, tid) / "env.txt").read_text().splitlines()
        if "=" in line
    )
    assert "AOF_MCP_TOKEN" not in seen and not any(k.startswith("AWS_") for k in seen)
    assert "ANTHROPIC_API_KEY" not in seen  # a provider key goes only to its provider's coder
    assert seen["AOF_TASK_ID"] == tid and seen["MY_SETTING"] == "from-aof-yaml"
    assert seen["AOF_ACTOR"] == "agent:envprobe" and "PATH" in seen


def test_a_copied_credential_is_excluded_from_the_coders_commits(world: dict[str, Any]) -> None:
    tid = _spawn(world, "leak")  # the demo coder commits with `git add -A`
    repo = world["repo"]
    assert world_fleet(world).get_task(tid).state == State.DONE
    assert ".env" not in git(repo, "ls-tree", "-r", "--name-only", "leak").split()
    assert "/.env" in (repo / ".git" / "info" / "exclude").read_text().split()


def test_a_branch_that_tracks_a_credential_does_not_complete(world: dict[str, Any]) -> None:
    repo = world["repo"]
    git(repo, "checkout", "-q", "-b", "leaky")
    git(repo, *ID, "add", "-f", ".env")
    git(repo, *ID, "commit", "-qm", "a secret on the branch")
    git(repo, "checkout", "-q", "main")
    tid = _spawn(world, "leaky")
    task = world_fleet(world).get_task(tid)
    assert task.state == State.BLOCKED, task.meta
    assert ".env" in task.meta["blocked"]["reason"]


def test_a_credential_is_never_copied_through_a_link(world: dict[str, Any], tmp_path: Path) -> None:
    repo, exfil = world["repo"], tmp_path / "exfil"
    exfil.mkdir()
    link = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=str(exfil / "stolen.env"),
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    readme = git(repo, "rev-parse", "HEAD:README.md").strip()
    tree = subprocess.run(
        ["git", "mktree"], cwd=repo, capture_output=True, text=True, check=True,
        input=f"100644 blob {readme}\tREADME.md\n120000 blob {link}\t.env\n",
    ).stdout.strip()  # fmt: skip
    commit = git(repo, *ID, "commit-tree", tree, "-p", "main", "-m", "evil").strip()
    git(repo, "branch", "evil", commit)
    tid = _spawn(world, "evil")
    assert not (exfil / "stolen.env").exists()
    assert "symbolic link" in (run_dir(world, tid) / "events.jsonl").read_text()


# --- values that become coder argv are never options ------------------------------------------


def test_model_session_and_base_branch_cannot_be_options(fleet: Fleet, tmp_path: Path) -> None:
    from aof.coders import resolve as coders
    from aof.errors import ValidationError
    from aof.runner import worktrees

    task = fleet.create_task("Argv")
    for kwargs in ({"model": "--yolo"}, {"session_id": "--dangerously-skip-permissions"}):
        for coder in ("claude", "gemini", "opencode", "codex"):
            with pytest.raises(ValidationError, match="coder's command line"):
                coders.build(coder, task, root=fleet.root, holder="h", token="1-x",
                             project=None, config={}, **kwargs)  # type: ignore[arg-type]  # fmt: skip
    argv, _ = coders.build("gemini", task, root=fleet.root, holder="h", token="1-x",
                           project=None, config={}, model="pro", session_id="s1")  # fmt: skip
    assert "--model=pro" in argv and "--resume=s1" in argv
    repo = tmp_path / "repo"
    git_init = ["git", "init", "-q", "-b", "main", str(repo)]
    subprocess.run(git_init, check=True)
    with pytest.raises(ValidationError, match="default_branch"):
        worktrees.ensure(tmp_path / "wt", repo, "feature", "--no-checkout")
    assert not (tmp_path / "wt").exists()
