"""Every change can say why: ``--reason TEXT`` on every command that changes the fleet root,
a ``reason`` argument on every MCP tool that does, and ``Fleet.reason`` in the library. The
text becomes the ``reason`` of every audit record the call makes (in place of the one the
verb computes), and ``aof history`` shows it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import pytest

from aof import Fleet, State, ValidationError
from aof.cli import cli
from aof.clock import FixedClock
from aof.journal.audit import REASON_MAX
from aof.mcp.server import tool_list

from .conftest import Cli
from .test_agents import aof, tree_of, wait_for, world
from .test_agents import fleet as fleet_of
from .test_mcp import call, error, ok, serve, session
from .test_reconcile import ao_bin, fleet_with_projects

__all__ = ["ao_bin", "fleet_with_projects", "world"]  # fixtures, shared with other test files

# Commands that take no --reason: they append no audit record of their own.
NO_RECORD = {
    "agent attach": "attaches a terminal",
    "agent get": "reads",
    "agent list": "reads",
    "agent logs": "reads",
    "agent profiles": "reads",
    "audit list": "reads",
    "audit search": "reads",
    "board": "reads",
    "completion": "prints a script",
    "cost": "reads",
    "daemon": "the scheduler: each action it takes records its own reason",
    "daemon health": "reads",
    "daemon status": "reads",
    "fleet founder": "reads",
    "fleet overview": "reads",
    "history": "reads",
    "host get": "reads",
    "host list": "reads",
    "host token": "writes a token's hash to .aof/api-tokens.json (runtime state, no record)",
    "worker": "runs on a worker host; each run's records are made by the coordinator",
    "knowledge document list": "reads",
    "knowledge document show": "reads",
    "knowledge fact list": "reads",
    "knowledge fact show": "reads",
    "knowledge kinds": "reads",
    "knowledge reindex": "rebuilds the derived index under .aof/",
    "forge status": "reads",
    "knowledge search": "reads (and refreshes the derived index)",
    "knowledge source list": "reads",
    "knowledge source show": "reads",
    "lint": "reads",
    "mcp serve": "its tools take a reason argument each",
    "mcp tools": "reads",
    "serve": "its actions are made by the person signed in; a page says why in its form",
    "notify list": "reads",
    "notify test": "sends a test message now; writes nothing",
    "plan": "reads",
    "project ao": "runs AO's CLI in an AO project, outside the fleet root",
    "project get": "reads",
    "project host list": "reads",
    "project list": "reads",
    "schedule eval": "reads",
    "schedule get": "reads",
    "schedule list": "reads",
    "snapshot export": "reads",
    "task heartbeat": "liveness under .aof/, never audited",
    "task list": "reads",
    "task show": "reads",
    "team get": "reads",
    "team list": "reads",
    "team override list": "reads",
    "top": "reads",
    "why": "reads",
    "worktree list": "reads",
    "worktree prune": "removes worktrees of finished tasks (outside git, never audited)",
}


def commands() -> dict[str, click.Command]:
    """Every command of the `aof` tree by its path (a group that runs on its own included)."""
    out: dict[str, click.Command] = {}
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command and path:
                out[" ".join(path)] = cmd
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        else:
            out[" ".join(path)] = cmd

    walk(cli, [])
    return out


def takes_reason(cmd: click.Command) -> bool:
    return any("--reason" in getattr(p, "opts", ()) for p in cmd.params)


def records(root: Path) -> list[dict[str, Any]]:
    return list(Fleet(root).audit.records())


def added(root: Path, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that are not in ``before`` (by content: day files sort by date, so a
    record of today may sort before older ones written with a fixed clock)."""
    seen = {json.dumps(r, sort_keys=True) for r in before}
    return [r for r in records(root) if json.dumps(r, sort_keys=True) not in seen]


def reasons_of(root: Path, entity: str) -> list[tuple[str, str | None]]:
    return [(r["action"], r.get("reason")) for r in records(root) if r["entity"]["id"] == entity]


# --- the CLI -------------------------------------------------------------------------------


def test_every_command_that_changes_the_fleet_root_takes_reason() -> None:
    tree = commands()
    missing = sorted(p for p, c in tree.items() if p not in NO_RECORD and not takes_reason(c))
    assert missing == [], f"commands that change the fleet root without --reason: {missing}"
    assert sorted(set(NO_RECORD) - set(tree)) == []  # the list names real commands only
    both = sorted(p for p in NO_RECORD if takes_reason(tree[p]))
    assert both == [], f"listed as making no record, yet taking --reason: {both}"


def test_a_task_verbs_reason_is_its_records_reason_and_wins_over_the_verbs_own(
    run: Cli, root: Path
) -> None:
    tid = run.json("task", "create", "Fix the login", "--reason", "customer escalation")["id"]
    run("task", "edit", tid, "--priority", "high", "--reason", "SLA breach")
    run("task", "ready", tid, "--reason", "unblocked by ops")  # its own option, same meaning
    token = run.json("task", "claim", tid, "--agent", "coder-1", "--reason", "pairing")["token"]
    run("task", "block", tid, "--token", token, "--question", "Which region?",
        "--reason", "needs a decision")  # fmt: skip
    run("task", "answer", tid, "--text", "EU")  # no --reason: the verb's own (the answer)
    token = run.json("task", "next", "--agent", "coder-1", "--claim",
                     "--reason", "second try")["token"]  # fmt: skip
    run("task", "complete", tid, "--token", token, "--summary", "Fixed the redirect",
        "--reason", "hotfix for the launch")  # fmt: skip
    assert reasons_of(root, tid) == [
        ("created", "customer escalation"),
        ("edited", "SLA breach"),
        ("promoted", "unblocked by ops"),
        ("claimed", "pairing"),
        ("blocked", "needs a decision"),
        ("answered", "EU"),
        ("claimed", "second try"),
        ("completed", "hotfix for the launch"),
    ]
    task = Fleet(root).get_task(tid)  # the verbs' own texts stay where they belong
    assert "Which region?" in task.body and "Fixed the redirect" in task.body


def test_history_shows_each_records_reason_on_its_line(run: Cli) -> None:
    tid = run.json("task", "create", "Tidy the backlog")["id"]
    run("task", "move", tid, "ready", "--reason", "first line\nsecond line")
    run("task", "edit", tid, "--add-label", "ops", "--reason", "  ops owns it  ")
    out = run("history", tid).stdout.splitlines()
    assert out[0].endswith("created task " + tid + " -> backlog  (Tidy the backlog)")
    assert out[1].endswith(f"moved task {tid} backlog -> ready  (first line second line)")
    assert out[2].endswith(f"edited task {tid}  (ops owns it)")
    listed = run("audit", "list", "--task", tid).stdout
    assert "(first line second line)" in listed
    assert run.json("history", tid)["records"][1]["reason"] == "first line\nsecond line"


def test_a_bad_reason_is_refused_before_anything_is_written(run: Cli, root: Path) -> None:
    before = len(records(root))
    long = "x" * (REASON_MAX + 1)
    bad = run("task", "create", "Never written", "--reason", long, code=6)
    assert bad.stderr.strip() == (
        f"Error: reason: {REASON_MAX + 1} characters, at most {REASON_MAX} "
        "(write the details into the task or document body)"
    )
    assert len(records(root)) == before and run.json("task", "list") == []
    run("init", str(root.parent / "other"), "--reason", long, code=6)
    assert not (root.parent / "other").exists()
    # A blank reason is no reason: the verb's own stays.
    tid = run.json("task", "create", "Kept", "--reason", "   ")["id"]
    assert reasons_of(root, tid) == [("created", "Kept")]


def test_a_registry_verbs_reason_goes_into_every_record_it_makes(run: Cli, root: Path) -> None:
    run("team", "create", "--slug", "growth", "--name", "Growth", "--mission", "More users",
        "--ownership", "company", "--reason", "Q3 plan")  # fmt: skip
    run("project", "create", "--team", "growth", "--slug", "site", "--root-path", "/src/site",
        "--reason", "new site")  # fmt: skip
    run("team", "update", "growth", "--business-priority", "90", "--reason", "board ask")
    run("team", "override", "set", "growth", "--state", "paused", "--note", "freeze",
        "--reason", "launch freeze")  # fmt: skip
    run("host", "create", "--slug", "mac-1", "--name", "Mac", "--address", "mac-1.local",
        "--platform", "macos", "--capacity-slots", "2")  # fmt: skip
    run("project", "host", "assign", "site", "mac-1", "--reason", "more memory")
    before = records(root)
    run("team", "delete", "growth", "--cascade", "--reason", "merged into web")
    assert reasons_of(root, "growth")[:4] == [
        ("created", "Q3 plan"),
        ("updated", "board ask"),
        ("updated", "launch freeze"),
        ("deleted", "merged into web"),
    ]
    assert reasons_of(root, "site")[:2] == [("created", "new site"), ("updated", "more memory")]
    cascade = added(root, before)
    assert {r["entity"]["id"] for r in cascade} == {"growth", "site"}
    assert {r.get("reason") for r in cascade} == {"merged into web"}


def test_a_knowledge_verbs_reason_is_its_records_reason(run: Cli, root: Path) -> None:
    doc = run.json("knowledge", "document", "create", "--title", "Rollback", "--kind", "runbook",
                   "--body", "Roll back first.", "--reason", "after the outage")  # fmt: skip
    run("knowledge", "document", "edit", doc["slug"], "--add-tag", "ops", "--reason", "tagging")
    fact = run.json("knowledge", "fact", "create", "--statement", "Friday deploys fail",
                    "--confidence", "70", "--kind", "risk", "--reason", "postmortem")  # fmt: skip
    run("knowledge", "source", "upsert", "wiki", "--kind", "link", "--label", "Wiki",
        "--uri", "https://wiki", "--reason", "single source of truth")  # fmt: skip
    assert reasons_of(root, doc["slug"]) == [
        ("created", "after the outage"),
        ("updated", "tagging"),
    ]
    assert reasons_of(root, fact["id"]) == [("created", "postmortem")]
    assert reasons_of(root, "wiki") == [("created", "single source of truth")]


def test_init_doctor_and_snapshot_import_carry_the_reason(
    run: Cli, root: Path, tmp_path: Path
) -> None:
    other = tmp_path / "second"
    run("init", str(other), "--reason", "a fleet for the EU team")
    assert [(r["action"], r.get("reason")) for r in records(other)] == [
        ("init", "a fleet for the EU team")
    ]
    # doctor --fix: a lease left on a ready task (its file moved back by hand)
    tid = run.json("task", "create", "Stuck", "--ready")["id"]
    run("task", "claim", tid, "--agent", "coder-1")
    claimed = Fleet(root).get_task(tid).path
    os.rename(claimed, root / "tasks" / "ready" / claimed.name)
    before = records(root)
    run("doctor", "--fix", "--reason", "cleanup after the outage", code=None)
    fixed = added(root, before)
    assert fixed and {r.get("reason") for r in fixed} == {"cleanup after the outage"}
    # snapshot import: every imported card's record
    run("team", "create", "--slug", "web", "--name", "Web", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    snapshot = tmp_path / "fleet.json"
    run("snapshot", "export", "--output", str(snapshot))
    Cli(other)("snapshot", "import", str(snapshot), "--reason", "copy of prod")
    imported = [r for r in records(other) if r["action"] == "imported"]
    assert imported and {r.get("reason") for r in imported} == {"copy of prod"}


def test_reconcile_apply_carries_the_reason(
    run: Cli,
    fleet: Fleet,
    fleet_with_projects: dict[str, Path],
    ao_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{ao_bin.parent}{os.pathsep}{os.environ['PATH']}")
    before = records(fleet.root)
    run("reconcile", "--team", "web", "--apply", "--reason", "after maintenance")
    applied = added(fleet.root, before)
    assert {r["action"] for r in applied} == {"daemon_start", "daemon_resume"}
    assert {r.get("reason") for r in applied} == {"after maintenance"}


# --- the library -----------------------------------------------------------------------------


def test_fleet_reason_covers_one_block_nests_and_is_checked(fleet: Fleet) -> None:
    with fleet.reason("quarterly cleanup"):
        a = fleet.create_task("A")
        with fleet.reason("nested"):
            b = fleet.create_task("B")
        c = fleet.create_task("C")
    with pytest.raises(RuntimeError), fleet.reason("interrupted"):
        raise RuntimeError("boom")
    d = fleet.create_task("D")  # out of every block: the verb's own reason again
    with fleet.reason(None), fleet.reason(" "):
        e = fleet.create_task("E")
    got = {t.title: reasons_of(fleet.root, t.id) for t in (a, b, c, d, e)}
    assert got == {
        "A": [("created", "quarterly cleanup")],
        "B": [("created", "nested")],
        "C": [("created", "quarterly cleanup")],
        "D": [("created", "D")],
        "E": [("created", "E")],
    }
    with pytest.raises(ValidationError, match="reason: 1001 characters"), fleet.reason("x" * 1001):
        fleet.create_task("never")
    assert sorted(t["title"] for t in fleet.list_tasks()) == ["A", "B", "C", "D", "E"]
    one = Fleet(fleet.root, clock=fleet.clock, actor="human:tester", reason="for one object")
    assert reasons_of(fleet.root, one.create_task("F").id) == [("created", "for one object")]


# --- MCP -------------------------------------------------------------------------------------


def test_every_mcp_tool_that_writes_takes_a_reason(root: Path, clock: FixedClock) -> None:
    tools = {t["name"]: t for t in tool_list(serve(root, clock, profile="all"))}
    writes = {n for n, t in tools.items() if not t["annotations"].get("readOnlyHint")}
    without = {n for n in writes if "reason" not in t_props(tools[n])}
    assert without == {"aof_heartbeat"}  # liveness, never audited
    assert all("reason" not in t_props(tools[n]) for n in set(tools) - writes)


def t_props(tool: dict[str, Any]) -> dict[str, Any]:
    return dict(tool["inputSchema"]["properties"])


def test_an_mcp_tools_reason_is_the_reason_of_the_records_of_that_call_only(
    fleet: Fleet, clock: FixedClock
) -> None:
    task = fleet.create_task("Add rate limiting", ready=True)
    server = serve(fleet.root, clock, actor="agent:coder-1")

    async def scenario(c: Any) -> None:
        ok(await c.call_tool("aof_claim", {"task": task.id, "reason": "my turn"}))
        ok(await c.call_tool("aof_progress", {"note": "limiter in"}))  # no reason: its own
        ok(await c.call_tool("aof_complete", {"summary": "Done", "reason": "tests green"}))
        too_long = {"title": "x", "reason": "y" * (REASON_MAX + 1)}
        assert "reason: 1001 characters" in error(await c.call_tool("aof_create", too_long))
        ok(await c.call_tool("aof_knowledge_add", {"type": "fact", "kind": "risk",
                                                   "statement": "Limits bite", "confidence": 60,
                                                   "reason": "seen in load tests"}))  # fmt: skip

    session(server, scenario)
    assert reasons_of(fleet.root, task.id) == [
        ("created", "Add rate limiting"),
        ("claimed", "my turn"),
        ("progress", "limiter in"),
        ("completed", "tests green"),
    ]
    assert [t["title"] for t in fleet.list_tasks(states=list(State))] == ["Add rate limiting"]
    facts = [r for r in records(fleet.root) if r["entity"]["kind"] == "knowledge-fact"]
    assert [r.get("reason") for r in facts] == ["seen in load tests"]
    ops = serve(fleet.root, clock, actor="human:ops", profile="operator")
    fields = {"name": "Growth", "mission": "More users", "ownership": "company"}
    ok(call(ops, "aof_registry_create", kind="team", slug="growth", fields=fields,
            reason="Q3 plan"))  # fmt: skip
    ok(call(ops, "aof_registry_update", kind="team", slug="growth",
            fields={"business_priority": 80}))  # fmt: skip
    assert reasons_of(fleet.root, "growth") == [("created", "Q3 plan"), ("updated", None)]


# --- agents (real processes) -----------------------------------------------------------------


def test_agent_spawn_and_kill_carry_their_reasons(world: dict[str, Any]) -> None:
    out = aof(world, "agent", "spawn", "try-it", "--prompt", "Try the idea", "--project", "proj",
              "--reason", "spike for the roadmap", "--json", AOF_DEMO_SECONDS="300")  # fmt: skip
    started = json.loads(out.stdout)
    wait_for(lambda: len(tree_of(started["pid"])) >= 2)
    aof(world, "agent", "kill", "try-it", "--reason", "wrong approach")
    tid = started["task"]
    got = reasons_of(world["root"], tid)
    assert got[:2] == [("created", "spike for the roadmap"), ("claimed", "spike for the roadmap")]
    assert got[-1] == ("run_ended", "wrong approach")
    assert fleet_of(world).get_task(tid).state == State.BLOCKED
