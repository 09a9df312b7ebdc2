"""The MCP server in process (the official ``mcp.Client`` over the server object): every
tool, its error paths (the CLI's messages, as tool errors), the resources, the profiles and
their size, and who the calls are attributed to."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from aof import Fleet, State
from aof.clock import FixedClock, SeededIds
from aof.mcp.server import make, tool_list

from .conftest import Cli, set_default_coder
from .test_host_sync import TOKEN, FakeHostd, hostd
from .test_reconcile import ao_bin, calls, fleet_with_projects

# fixtures, shared with test_reconcile and test_host_sync
__all__ = ["ao_bin", "fleet_with_projects", "hostd"]

AGENT_TOOLS = ["aof_next", "aof_claim", "aof_heartbeat", "aof_progress", "aof_complete",
               "aof_ask", "aof_gate_approve", "aof_gate_reject", "aof_create", "aof_task",
               "aof_board", "aof_knowledge_search", "aof_knowledge_add"]  # fmt: skip
OPERATOR_TOOLS = ["aof_registry_list", "aof_registry_get", "aof_registry_create",
                  "aof_registry_update", "aof_host_sync", "aof_overview", "aof_plan",
                  "aof_why", "aof_reconcile", "aof_audit", "aof_history", "aof_cost",
                  "aof_forge_status",
                  "aof_knowledge_search", "aof_knowledge_add"]  # fmt: skip


def serve(
    root: Path,
    clock: FixedClock,
    *,
    profile: str = "all",
    actor: str = "agent:coder-1",
    env: dict[str, str] | None = None,
) -> Any:
    server, _ = make(
        root, profile=profile, actor=actor, env=env or {}, clock=clock, ids=SeededIds(7)
    )
    return server


def session(server: Any, scenario: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Client(server) as client:
            return await scenario(client)

    return asyncio.run(main())


def call(server: Any, tool: str, **args: Any) -> Any:
    return session(server, lambda c: c.call_tool(tool, args))


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


def error(result: Any) -> str:
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


def test_profiles_list_their_tools_with_read_only_hints_and_stay_small(
    root: Path, clock: FixedClock
) -> None:
    agent = tool_list(serve(root, clock, profile="agent"))
    assert [t["name"] for t in agent] == AGENT_TOOLS
    read_only = {t["name"] for t in agent if t["annotations"].get("readOnlyHint")}
    assert read_only == {"aof_next", "aof_task", "aof_board", "aof_knowledge_search"}
    assert all("outputSchema" in t and t["description"] for t in agent)
    # The agent's list is under 4,000 tokens even at a pessimistic 3 bytes a token.
    assert len(json.dumps(agent, separators=(",", ":"))) < 4000 * 3
    operator = tool_list(serve(root, clock, profile="operator"))
    assert [t["name"] for t in operator] == OPERATOR_TOOLS
    assert len(tool_list(serve(root, clock, profile="all"))) == 26


def test_an_agent_finds_claims_reports_and_completes(fleet: Fleet, clock: FixedClock) -> None:
    task = fleet.create_task("Add rate limiting", ready=True, priority="high")
    server = serve(fleet.root, clock)

    async def scenario(c: Client) -> None:
        nxt = ok(await c.call_tool("aof_next", {}))
        assert nxt["task"]["id"] == task.id and nxt["task"]["state"] == "ready"
        claimed = ok(await c.call_tool("aof_claim", {}))
        assert claimed["task"]["holder"] == "coder-1" and claimed["token"].startswith("1-")
        beat = ok(await c.call_tool("aof_heartbeat", {}))  # task and token: the claim's
        assert beat["id"] == task.id
        ok(await c.call_tool("aof_progress", {"note": "limiter in, tests next"}))
        done = ok(
            await c.call_tool(
                "aof_complete", {"summary": "Limiter and tests", "outputs": ["src/limit.py"]}
            )
        )
        assert done["state"] == "done" and done["path"].startswith("tasks/done/")
        view = ok(await c.call_tool("aof_task", {"task": task.id}))
        assert "limiter in, tests next" in view["body"] and "- src/limit.py" in view["body"]
        assert view["meta"]["priority"] == "high"
        none = ok(await c.call_tool("aof_next", {}))
        assert none["task"] is None and "nothing to dispatch" in none["reason"]

    session(server, scenario)
    actions = [
        (r["action"], f"{r['actor']['kind']}:{r['actor']['id']}")
        for r in fleet.audit.records()
        if r["entity"]["id"] == task.id
    ]
    assert actions[1:] == [
        ("claimed", "agent:coder-1"),
        ("progress", "agent:coder-1"),
        ("completed", "agent:coder-1"),
    ]


def test_the_runner_environment_names_the_task_and_token(fleet: Fleet, clock: FixedClock) -> None:
    task = fleet.create_task("Fix it", ready=True)
    lease = fleet.claim(task.id, "coder-9").lease or {}
    env = {"AOF_TASK_ID": task.id, "AOF_LEASE_TOKEN": str(lease["token"])}
    server = serve(fleet.root, clock, actor="agent:coder-9", env=env)
    assert ok(call(server, "aof_ask", question="Which region?"))["state"] == "blocked"
    assert fleet.get_task(task.id).meta["blocked"]["question"] == "Which region?"


def test_tool_errors_carry_the_clis_message(fleet: Fleet, clock: FixedClock, run: Cli) -> None:
    task = fleet.create_task("Waiting", ready=False)
    server = serve(fleet.root, clock)
    cases = [
        (("aof_claim", {"task": task.id}), ("task", "claim", task.id, "--agent", "coder-1")),
        (("aof_task", {"task": "t-zzzz"}), ("task", "show", "t-zzzz")),
        (
            ("aof_complete", {"task": task.id, "summary": "x", "token": "1-abc"}),
            ("task", "complete", task.id, "--token", "1-abc", "--summary", "x"),
        ),
        (
            ("aof_create", {"title": "x", "depends_on": ["t-nope"]}),
            ("task", "create", "x", "--depends-on", "t-nope"),
        ),
        (("aof_registry_get", {"kind": "team", "slug": "ghost"}), ("team", "get", "ghost")),
    ]
    for (tool, args), cli_args in cases:
        message = error(call(server, tool, **args))
        cli = run(*cli_args, code=None)
        assert cli.exit_code not in (0, 2), cli_args
        assert cli.stderr.strip() == f"Error: {message}", (tool, message, cli.stderr)
    assert "a heartbeat needs the lease token" in error(
        call(serve(fleet.root, clock, actor="human:ops"), "aof_heartbeat", task=task.id)
    )
    assert "name the task" in error(call(server, "aof_progress", note="hello"))
    assert "empty" in error(call(server, "aof_progress", note=" ", task=task.id))
    nothing = error(call(server, "aof_claim"))
    assert "nothing to dispatch" in nothing
    assert fleet.get_task(task.id).state == State.BACKLOG  # nothing changed on the way


def test_protocol_misuse_is_not_a_fleet_error(fleet: Fleet, clock: FixedClock) -> None:
    server = serve(fleet.root, clock, profile="agent")
    assert "Unknown tool" in error(call(server, "aof_registry_list", kind="team"))  # not agent
    bad = error(call(server, "aof_board", limit="many"))
    assert "limit" in bad and "valid integer" in bad


def test_create_hands_off_a_child_task_with_routing(fleet: Fleet, clock: FixedClock) -> None:
    parent = fleet.create_task("Build the API", ready=True)
    first = fleet.create_task("Schema", ready=True)
    server = serve(fleet.root, clock)
    child = ok(
        call(
            server,
            "aof_create",
            title="Write the client",
            parent=parent.id,
            depends_on=[first.id],
            agent="coder-2",
            labels=["api"],
            priority="high",
            ready=True,
        )
    )
    t = fleet.get_task(child["id"])
    assert t.meta["parent"] == parent.id and t.depends_on == [first.id]
    assert t.meta["routing"] == {"agent": "coder-2"} and t.state == State.READY
    board = ok(call(server, "aof_board", limit=1))
    assert board["counts"]["ready"] == 3 and len(board["columns"]["ready"]) == 1
    assert board["columns"]["ready"][0]["id"] == child["id"]  # high priority first


def test_operator_tools_edit_the_registry_and_read_the_fleet(
    fleet: Fleet, clock: FixedClock
) -> None:
    set_default_coder(fleet.root)
    server = serve(fleet.root, clock, actor="human:ops", profile="operator")
    team = ok(
        call(
            server,
            "aof_registry_create",
            kind="team",
            slug="growth",
            fields={"name": "Growth", "mission": "More users", "ownership": "company"},
        )
    )
    assert team["path"] == "teams/growth.md" and team["fields"]["name"] == "Growth"
    ok(call(server, "aof_registry_update", kind="team", slug="growth",
            fields={"business_priority": 80}))  # fmt: skip
    got = ok(call(server, "aof_registry_get", kind="team", slug="growth"))
    assert got["fields"]["business_priority"] == 80
    slugs = [r["slug"] for r in ok(call(server, "aof_registry_list", kind="team"))["items"]]
    assert "growth" in slugs
    fields = {"name": "X", "mission": "m", "ownership": "company", "business_priority": 500}
    bad = error(call(server, "aof_registry_create", kind="team", slug="x", fields=fields))
    assert "business_priority" in bad and "500" in bad
    assert not (fleet.root / "teams" / "x.md").exists()
    overview = ok(call(server, "aof_overview"))["data"]
    assert "growth" in [t["slug"] for t in overview["teams"]]
    task = fleet.create_task("Plan me", ready=True, team="growth")
    plan = ok(call(server, "aof_plan"))["data"]
    assert [a["task"] for a in plan["actions"] if a["kind"] == "dispatch"] == [task.id]
    why = ok(call(server, "aof_why", task=task.id))
    assert task.id in why["why"]
    audit = ok(call(server, "aof_audit", actor="human:ops", limit=0))["items"]
    assert [r["action"] for r in audit] == ["created", "updated"]
    assert ok(call(server, "aof_audit", task=task.id))["items"][0]["action"] == "created"
    assert "not an ISO 8601 time" in error(call(server, "aof_audit", since="yesterday"))


def test_reconcile_preview_changes_nothing_and_apply_applies(
    fleet: Fleet,
    clock: FixedClock,
    fleet_with_projects: dict[str, Path],
    ao_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{ao_bin.parent}{os.pathsep}{os.environ['PATH']}")
    server = serve(fleet.root, clock, actor="human:ops", profile="operator")
    site = fleet_with_projects["site"]
    preview = ok(call(server, "aof_reconcile", team="web"))["data"]
    assert preview["applied"] is False
    assert {r["project"]: r["action"] for r in preview["rows"]}["site"] == "start"
    assert calls(site) == ["daemon status"]
    applied = ok(call(server, "aof_reconcile", team="web", apply=True))["data"]
    assert {r["project"]: r["applied"] for r in applied["rows"]}["site"] is True
    assert (site / ".ao" / "state").read_text() == "running"  # really applied
    again = ok(call(server, "aof_reconcile", team="web"))["data"]
    assert {r["project"]: r["action"] for r in again["rows"]}["site"] == "none"
    assert "no team" in error(call(server, "aof_reconcile", team="nope"))


def test_history_tool_gives_a_tasks_records_and_commits(fleet: Fleet, clock: FixedClock) -> None:
    t = fleet.create_task("x", ready=True)
    fleet.claim(t.id, "a")
    server = serve(fleet.root, clock, actor="human:ops", profile="operator")
    h = ok(call(server, "aof_history", task=t.id[:6]))["data"]
    assert h["id"] == t.id
    assert [r["action"] for r in h["records"]] == ["created", "claimed"]
    assert [c["subject"] for c in h["commits"]] == [
        f"task {t.id}: ready -> in-progress (agent:a)",
        f"task {t.id}: created in ready (human:tester)",
    ]
    assert "no task or audit records" in error(call(server, "aof_history", task="t-zzzzzz"))


def test_host_sync_tool_syncs_one_hostd_or_every_host(
    fleet: Fleet, clock: FixedClock, hostd: FakeHostd
) -> None:
    fleet.registry.create("team", "eng", {"name": "E", "mission": "m", "ownership": "o"})
    server = serve(fleet.root, clock, actor="human:ops", profile="operator")
    one = ok(
        call(
            server,
            "aof_host_sync",
            base_url=hostd.url,
            auth_token=TOKEN,
            register_missing=True,
            team="eng",
            reason="new mac",
        )
    )["data"]
    assert [s["host"] for s in one["synced"]] == ["founder-mac"] and one["failed"] == []
    assert sorted(one["synced"][0]["created"]) == ["api", "web-app"]
    assert fleet.registry.get("project", "web-app").meta["host"] == "founder-mac"
    records = fleet.audit.query(actor="human:ops", limit=0)
    assert records and all(r["reason"] == "new mac" for r in records)
    assert "HTTP 401: bad token" in error(
        call(server, "aof_host_sync", base_url=hostd.url, auth_token="wrong")
    )
    fleet.registry.create(
        "host",
        "dead",
        {"name": "D", "address": "http://127.0.0.1:9", "platform": "linux"},
    )
    every = ok(call(server, "aof_host_sync", auth_token=TOKEN))["data"]
    assert [s["host"] for s in every["synced"]] == ["founder-mac"]
    assert [f["address"] for f in every["failed"]] == ["http://127.0.0.1:9"]


def test_resources_are_the_files_and_views(fleet: Fleet, clock: FixedClock) -> None:
    task = fleet.create_task("Read me", ready=True)
    server = serve(fleet.root, clock)

    async def scenario(c: Client) -> None:
        listed = {str(r.uri) for r in (await c.list_resources()).resources}
        assert {"aof://board", "aof://fleet/overview"} <= listed
        templates = (await c.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == [
            "aof://tasks/{task_id}",
            "aof://knowledge/{type}/{key}",
        ]
        text = (await c.read_resource(f"aof://tasks/{task.id}")).contents[0].text
        assert text == task.path.read_text(encoding="utf-8")
        board = json.loads((await c.read_resource("aof://board")).contents[0].text)
        assert board["counts"]["ready"] == 1
        overview = json.loads((await c.read_resource("aof://fleet/overview")).contents[0].text)
        assert overview["counts"]["tasks"]["ready"] == 1
        with pytest.raises(Exception, match="no task"):
            await c.read_resource("aof://tasks/t-zzzz")

    session(server, scenario)


def test_the_server_reads_fresh_files_and_config(fleet: Fleet, clock: FixedClock) -> None:
    server = serve(fleet.root, clock)

    async def scenario(c: Client) -> None:
        assert ok(await c.call_tool("aof_board", {}))["counts"]["ready"] == 0
        fleet.create_task("Made by someone else", ready=True)  # another process, say
        assert ok(await c.call_tool("aof_board", {}))["counts"]["ready"] == 1
        config = fleet.root / "aof.yaml"
        config.write_text(config.read_text().replace("priority: normal", "priority: high"))
        created = ok(await c.call_tool("aof_create", {"title": "After the edit"}))
        assert (
            ok(await c.call_tool("aof_task", {"task": created["id"]}))["meta"]["priority"] == "high"
        )

    session(server, scenario)


def test_mcp_cli_lists_tool_sizes_and_refuses_bad_serve_options(run: Cli) -> None:
    agent = run.json("mcp", "tools")
    assert [t["name"] for t in agent["tools"]] == AGENT_TOOLS
    assert agent["bytes"] == sum(t["bytes"] for t in agent["tools"]) + len(AGENT_TOOLS) + 1
    assert agent["tokens"] < 4000 and agent["tools"][0]["read_only"] is True
    assert "26 tools" in run("mcp", "tools", "--tools", "all").stdout
    bad_port = run("mcp", "serve", "--http", "localhost:http", code=2)
    assert "'localhost:http' is not [HOST:]PORT" in bad_port.stderr
    assert "out of range" in run("mcp", "serve", "--http", "70000", code=2).stderr
    short = run("mcp", "serve", "--http", "8765", "--token", "abc", code=6)
    assert "at least 16 characters" in short.stderr
    bad_actor = run("mcp", "serve", "--http", "8765", "--token", "x" * 20 + "=robot:r2", code=6)
    assert "robot:r2" in bad_actor.stderr
