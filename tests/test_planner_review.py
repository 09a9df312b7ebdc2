"""The planner's part for tasks in review: command gates handed to aof, reviews to agents
that did not do the work, people told when nobody can review, expired gate leases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aof.planner.plan import plan

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def snap(tasks: list[dict[str, Any]], agents: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "tasks": tasks,
        "states": {t["id"]: t["state"] for t in tasks},
        "teams": {},
        "schedules": [],
        "projects": {},
        "hosts": {},
        "agents": agents or {},
        "heartbeats": {},
        "coder_pauses": {},
        "coders_missing": {},
    }


def review(tid: str, **gate: Any) -> dict[str, Any]:
    return {"id": tid, "state": "review", "priority": "normal", "created": "2026-11-20",
            "gate": {"round": 1, "worker": "coder-1", **gate}}  # fmt: skip


CONFIG = {"scheduler": {"max_concurrent": 4}, "defaults": {"coder": "demo"}}
AGENTS = {
    "coder-1": {"roles": ["reviewer", "coder"], "capabilities": ["python"]},
    "rev-a": {"roles": ["reviewer"], "capabilities": ["python", "security"]},
    "rev-b": {"roles": ["reviewer"], "capabilities": []},
}


def test_a_command_gate_is_handed_to_aof_within_the_gate_limit() -> None:
    tasks = [review(f"t-{i}", current="tests", kind="command") for i in range(3)]
    result = plan(snap(tasks), NOW, {**CONFIG, "workflow": {"max_concurrent_gates": 2}})
    gates = [a for a in result["actions"] if a["kind"] == "gate"]
    assert [a["task"] for a in gates] == ["t-0", "t-1"]
    assert result["waiting"] == [
        {"task": "t-2", "reason": "gate tests waits: 2 gate(s) running "
         "(workflow.max_concurrent_gates)"}
    ]  # fmt: skip


def test_a_review_goes_to_an_agent_with_the_role_and_capabilities_never_the_worker() -> None:
    t = review("t-r", current="code-review", kind="review", role="reviewer",
               capabilities=["security"])  # fmt: skip
    result = plan(snap([t], AGENTS), NOW, CONFIG)
    [action] = result["actions"]
    assert action["kind"] == "review" and action["agent"] == "rev-a"
    assert action["coder"] == "demo"
    t2 = review("t-r", current="code-review", kind="review", role="reviewer")
    [action] = plan(snap([t2], AGENTS), NOW, CONFIG)["actions"]
    assert action["agent"] == "rev-a"  # coder-1 holds the role but did the work


def test_a_review_nobody_can_take_waits_with_a_reason_and_tells_a_person_once() -> None:
    t = review("t-x", current="code-review", kind="review", role="auditor")
    result = plan(snap([t], AGENTS), NOW, CONFIG)
    [notice] = result["actions"]
    assert notice["kind"] == "review_waiting"
    [wait] = result["waiting"]
    assert "no agent other than the worker (coder-1)" in wait["reason"]
    assert "role auditor" in wait["reason"]
    t["gate"]["notified"] = "1:code-review"
    again = plan(snap([t], AGENTS), NOW, CONFIG)
    assert again["actions"] == [] and again["waiting"] == result["waiting"]


def test_a_human_gate_waits_for_a_person_and_busy_reviewers_wait_their_turn() -> None:
    human = review("t-h", current="qa", kind="human")
    busy = review("t-b", current="cr", kind="review", agent="rev-b")
    held = {**review("t-c", current="cr", kind="review", agent="rev-b"), "holder": "rev-b",
            "expires": "2026-11-23T11:00:00Z"}  # fmt: skip
    result = plan(snap([human, busy, held], AGENTS), NOW, CONFIG)
    reasons = {w["task"]: w["reason"] for w in result["waiting"]}
    assert "waits for a person" in reasons["t-h"] and "aof gate approve t-h" in reasons["t-h"]
    assert "every reviewer is busy" in reasons["t-b"]
    assert result["actions"] == []


def test_an_expired_gate_lease_goes_back_to_review_and_reviews_come_before_new_work() -> None:
    dead = {**review("t-d", current="tests", kind="command"), "holder": "aof",
            "expires": "2026-11-23T09:00:00Z"}  # fmt: skip
    ready = {"id": "t-n", "state": "ready", "priority": "critical", "created": "2026-11-20"}
    rev = review("t-r", current="cr", kind="review", role="reviewer")
    result = plan(snap([dead, ready, rev], AGENTS), NOW,
                  {**CONFIG, "scheduler": {"max_concurrent": 1}})  # fmt: skip
    kinds = [(a["kind"], a["task"]) for a in result["actions"]]
    assert ("expire", "t-d") in kinds
    assert next(a for a in result["actions"] if a["kind"] == "expire")["to"] == "review"
    assert ("review", "t-r") in kinds and ("dispatch", "t-n") not in kinds
    assert "at capacity" in {w["task"]: w["reason"] for w in result["waiting"]}["t-n"]
