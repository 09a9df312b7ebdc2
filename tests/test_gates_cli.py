"""`aof gate approve|reject` (and `aof task approve|reject`, the same commands) and the MCP
tools `aof_gate_approve|reject`: a person through human gates, a reviewer agent with the
token of its gate's lease, the cap of rejections, and every refusal with its exit code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from aof import Fleet, State
from aof.clock import FixedClock
from aof.errors import InvalidTransition
from aof.model.task import rejections

from .conftest import Cli
from .test_mcp import error, ok, serve

REVIEWED = """\
schema: aof/workflow/v1
max_rejections: 2
gates:
  - name: code-review
    review: {role: reviewer, capabilities: [python]}
  - qa
"""
PEOPLE = "max_rejections: 2\ngates:\n  - design\n  - name: qa\n    review: {human: true}\n"
TESTED = "gates:\n  - name: tests\n    run: make test\n  - qa\n"


def in_review(run: Cli, root: Path, workflow: str, text: str) -> str:
    """A task of ``workflow`` (whose file is ``text``) worked by coder-1 and reported done."""
    (root / "workflows" / f"{workflow}.yaml").write_text(text, encoding="utf-8")
    tid = str(run.json("task", "create", "Add the limiter", "--ready")["id"])
    run("task", "edit", tid, "--set", f"workflow={workflow}")
    token = run.json("task", "claim", tid, "--agent", "coder-1")["token"]
    run("task", "complete", tid, "--token", token, "--summary", "Limiter and tests")
    return tid


def reviewer(root: Path, name: str = "rev", caps: tuple[str, ...] = ("python",)) -> None:
    Fleet(root).registry.create("agent", name, {"roles": ["reviewer"], "capabilities": list(caps)})


def actions(root: Path, tid: str) -> list[tuple[str, str]]:
    return [
        (r["action"], f"{r['actor']['kind']}:{r['actor']['id']}")
        for r in Fleet(root).audit.records()
        if r["entity"]["id"] == tid
    ]


def test_a_person_approves_through_human_gates_to_done(run: Cli, root: Path) -> None:
    tid = in_review(run, root, "people", PEOPLE)
    first = run("gate", "approve", tid, "--feedback", "Looks right").stdout
    assert first.startswith(f"{tid} approved at gate design: next gate qa (review by a person)")
    assert "tasks/review/" in first
    shown = run.json("gate", "approve", tid)
    assert shown["id"] == tid and shown["state"] == "done"
    task = Fleet(root).get_task(tid)
    assert task.state == State.DONE and "approved: Looks right" in task.body
    history = task.meta["gate"]["history"]
    assert [(h["gate"], h["outcome"], h["round"]) for h in history] == [
        ("design", "passed", 1),
        ("qa", "passed", 1),
    ]
    assert "current" not in task.meta["gate"]
    assert [(a, who.split(":")[0]) for a, who in actions(root, tid)[-2:]] == [
        ("approved", "human"),
        ("approved", "human"),
    ]


def test_a_rejection_goes_back_to_ready_and_the_cap_blocks(run: Cli, root: Path) -> None:
    tid = in_review(run, root, "people", PEOPLE)
    out = run("gate", "reject", tid, "--feedback", "The 429 path has no test").stdout
    assert out.startswith(f"{tid} rejected at gate design: back to ready for coder-1 ")
    assert "(rejection 1 of 2)" in out and "tasks/ready/" in out
    task = Fleet(root).get_task(tid)
    assert task.state == State.READY and "## Feedback" in task.body
    assert "design: The 429 path has no test" in task.body
    assert task.meta.get("retry_after") is None  # back at once, no back-off
    # the same agent does it again; the alias under `task` rejects the second round
    token = run.json("task", "claim", tid, "--agent", "coder-1")["token"]
    run("task", "complete", tid, "--token", token, "--summary", "Added the test")
    blocked = run.json("task", "reject", tid, "--feedback", "Still flaky")
    assert blocked["id"] == tid and blocked["state"] == "blocked"
    again = Fleet(root).get_task(tid)
    assert rejections(again.meta) == 2
    assert again.meta["blocked"]["reason"].startswith("rejected 2 time(s) (max_rejections 2)")
    assert again.meta["attempts"] == 2  # rejections use up no attempt (max_attempts 3)
    # the text form at the cap names it
    run("task", "unblock", tid)
    token = run.json("task", "claim", tid, "--agent", "coder-1")["token"]
    run("task", "complete", tid, "--token", token, "--summary", "Third go")
    out = run("gate", "reject", tid, "--feedback", "No").stdout
    assert "blocked for a person: rejected 3 time(s), max_rejections 2" in out


def test_task_approve_keeps_its_note_and_takes_feedback(run: Cli, root: Path) -> None:
    tid = in_review(run, root, "people", PEOPLE)
    run("task", "approve", tid, "--note", "design ok")
    run("task", "approve", tid, "--feedback", "qa ok")
    body = Fleet(root).get_task(tid).body
    assert "approved: design ok" in body and "approved: qa ok" in body


def test_refusals_and_their_exit_codes(run: Cli, root: Path) -> None:
    tid = in_review(run, root, "people", PEOPLE)
    agent = {"AOF_ACTOR": "agent:rev"}
    no_token = run("gate", "approve", tid, code=8, env=agent).stderr
    assert no_token == (
        f"Error: task {tid}: a reviewer passes its lease token (--token / AOF_LEASE_TOKEN)\n"
    )
    assert (
        "reviewer passes" in run("task", "reject", tid, "--feedback", "x", code=8, env=agent).stderr
    )
    assert Fleet(root).get_task(tid).state == State.REVIEW  # nothing changed
    assert "Missing option '--feedback'" in run("gate", "reject", tid, code=2).stderr
    blank = run("gate", "reject", tid, "--feedback", "  ", code=6).stderr
    assert "a rejection needs feedback" in blank
    other = run.json("task", "create", "Not in review", "--ready")["id"]
    assert f"task {other} is ready, not in review" in run("gate", "approve", other, code=4).stderr
    # a command gate is run by aof; its exit status decides, never a hand
    tested = in_review(run, root, "tested", TESTED)
    hand = run("gate", "approve", tested, code=4).stderr
    assert hand == (
        f"Error: task {tested} is at command gate tests: aof runs it and its exit status "
        "decides (a person may still `aof task move` the task)\n"
    )
    assert (
        "at command gate tests" in run("gate", "reject", tested, "--feedback", "x", code=4).stderr
    )
    assert Fleet(root).get_task(tested).meta["gate"]["current"] == "tests"


def test_a_reviewer_approves_with_its_gate_lease_token(run: Cli, root: Path) -> None:
    reviewer(root)
    tid = in_review(run, root, "reviewed", REVIEWED)
    fleet = Fleet(root, actor="scheduler:daemon")
    with pytest.raises(InvalidTransition, match="coder-1 did the work and may not review it"):
        fleet.claim_gate(tid, "coder-1", "code-review")
    with pytest.raises(InvalidTransition, match="is at gate 'code-review', not 'qa'"):
        fleet.claim_gate(tid, "rev", "qa")
    token = str((fleet.claim_gate(tid, "rev", "code-review").lease or {})["token"])
    env = {"AOF_ACTOR": "agent:rev", "AOF_TASK_ID": tid}
    forged = token[:-1] + ("y" if token.endswith("x") else "x")
    stale = run("gate", "approve", tid, "--token", forged, code=8, env=env).stderr
    assert "the token is stale or foreign: the lease is held by rev" in stale
    # the token from the environment, the task from AOF_TASK_ID
    out = run("gate", "approve", "--feedback", "Clean diff", env={**env, "AOF_LEASE_TOKEN": token})
    assert out.stdout.startswith(f"{tid} approved at gate code-review: next gate qa")
    task = Fleet(root).get_task(tid)
    assert task.state == State.REVIEW and task.lease is None
    assert task.meta["gate"]["history"][-1]["by"] == "agent:rev"
    assert actions(root, tid)[-1] == ("approved", "agent:rev")
    # its token is spent: the lease went with the verdict
    spent = run("gate", "approve", tid, "--token", token, code=8, env=env).stderr
    assert "the token is stale: the task is review and holds no lease" in spent
    # an agent reviews only the task of its environment
    other = in_review(run, root, "people", PEOPLE)
    elsewhere = run("gate", "approve", other, "--token", token, code=8, env=env).stderr
    assert "an agent acts only on its own task" in elsewhere
    run("gate", "approve", tid)  # the person at qa
    assert Fleet(root).get_task(tid).state == State.DONE


def test_a_reviewer_rejects_back_to_the_same_worker(run: Cli, root: Path) -> None:
    reviewer(root)
    tid = in_review(run, root, "reviewed", REVIEWED)
    token = str((Fleet(root).claim_gate(tid, "rev", "code-review").lease or {})["token"])
    env = {"AOF_ACTOR": "agent:rev", "AOF_LEASE_TOKEN": token}
    out = run("gate", "reject", tid, "--feedback", "Split the module", env=env).stdout
    assert "back to ready for coder-1 (rejection 1 of 2)" in out
    task = Fleet(root).get_task(tid)
    assert task.meta["gate"]["worker"] == "coder-1"
    assert "code-review: Split the module" in task.body


# --- MCP --------------------------------------------------------------------------------


def review_over_mcp(fleet: Fleet, tid: str, clock: FixedClock, calls: list[Any]) -> list[Any]:
    server = serve(fleet.root, clock, profile="agent", actor="agent:rev")

    async def main() -> list[Any]:
        async with Client(server) as client:
            return [await client.call_tool(tool, args) for tool, args in calls]

    return asyncio.run(main())


def mcp_in_review(fleet: Fleet, text: str) -> str:
    (fleet.root / "workflows" / "reviewed.yaml").write_text(text, encoding="utf-8")
    fleet.registry.create("agent", "rev", {"roles": ["reviewer"], "capabilities": ["python"]})
    tid = fleet.create_task("Add the limiter", ready=True, fields={"workflow": "reviewed"}).id
    token = str((fleet.claim(tid, "coder-1").lease or {})["token"])
    fleet.complete(tid, token=token, summary="Limiter")
    return tid


def test_a_reviewer_approves_and_rejects_over_mcp(fleet: Fleet, clock: FixedClock) -> None:
    tid = mcp_in_review(fleet, REVIEWED)
    token = str((fleet.claim_gate(tid, "rev", "code-review").lease or {})["token"])
    no_token, approved = review_over_mcp(
        fleet,
        tid,
        clock,
        [
            ("aof_gate_approve", {"task": tid}),
            ("aof_gate_approve", {"task": tid, "token": token, "feedback": "Clean"}),
        ],
    )
    assert "a reviewer passes its lease token" in error(no_token)
    assert ok(approved) == {
        "id": tid,
        "title": "Add the limiter",
        "state": "review",
        "path": f"tasks/review/{fleet.get_task(tid).path.name}",
    }
    assert fleet.get_task(tid).meta["gate"]["current"] == "qa"
    (bad,) = review_over_mcp(
        fleet, tid, clock, [("aof_gate_reject", {"task": tid, "feedback": "x"})]
    )
    assert "a reviewer passes its lease token" in error(bad)
    fleet.approve(tid)  # the person at qa
    assert [a for a in actions(fleet.root, tid) if a[0] == "approved"] == [
        ("approved", "agent:rev"),
        ("approved", "human:tester"),
    ]
    second = mcp_second_round(fleet, clock)
    assert second.state == State.READY and "code-review: Name the constants" in second.body


def mcp_second_round(fleet: Fleet, clock: FixedClock) -> Any:
    """Another task, rejected over MCP by its reviewer with the token of its gate."""
    tid = fleet.create_task("Second", ready=True, fields={"workflow": "reviewed"}).id
    fleet.complete(tid, token=str((fleet.claim(tid, "coder-2").lease or {})["token"]), summary="s")
    token = str((fleet.claim_gate(tid, "rev", "code-review").lease or {})["token"])
    (rejected,) = review_over_mcp(
        fleet,
        tid,
        clock,
        [("aof_gate_reject", {"task": tid, "token": token, "feedback": "Name the constants"})],
    )
    assert ok(rejected)["state"] == "ready"
    return fleet.get_task(tid)


def test_over_mcp_a_token_is_good_only_for_a_review_the_caller_holds(
    fleet: Fleet, clock: FixedClock
) -> None:
    tid = mcp_in_review(fleet, REVIEWED)
    fleet.registry.create("agent", "rev-2", {"roles": ["reviewer"], "capabilities": ["python"]})
    token = str((fleet.claim_gate(tid, "rev-2", "code-review").lease or {})["token"])
    (taken,) = review_over_mcp(
        fleet, tid, clock, [("aof_gate_approve", {"task": tid, "token": token})]
    )
    assert error(taken) == (
        f"task {tid}: its gate is held by rev-2, not by you (agent:rev): you give a verdict "
        "only on a review you hold"
    )
    assert fleet.get_task(tid).meta["gate"]["current"] == "code-review"
