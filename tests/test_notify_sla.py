"""SLAs per state: set from the CLI and MCP, counted from the task's last transition, a breach
noticed once per period in a state (planner, pure) and applied as one ``sla_breach``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet, ValidationError
from aof.clock import parse_time
from aof.model.sla import apply_specs, limit_for, parse_duration
from aof.planner.plan import plan

from .conftest import Cli
from .notify_helpers import outbox_lines, set_notify
from .test_mcp import call, ok, serve

NOW = parse_time("2026-11-23T10:00:00Z")
CFG: dict[str, Any] = {"scheduler": {"max_concurrent": 4}, "defaults": {"coder": "demo"}}


def snap(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "tasks": list(tasks),
        "states": {t["id"]: t["state"] for t in tasks},
        "teams": {},
        "schedules": [],
        "projects": {},
        "hosts": {},
        "agents": {},
        "heartbeats": {},
        "coder_pauses": {},
        "coders_missing": {},
    }


def row(tid: str, state: str, **kw: Any) -> dict[str, Any]:
    return {"id": tid, "state": state, "created": "2026-11-20T00:00:00Z", **kw}


def notices(result: Any) -> list[tuple[str, str]]:
    return [(a["task"], a["state"]) for a in result["actions"] if a["kind"] == "notify"]


def test_durations() -> None:
    assert [parse_duration(x) for x in ("45s", "30m", "4h", "2d", "1w", "1h30m")] == [
        45,
        1800,
        14400,
        172800,
        604800,
        5400,
    ]
    for bad in ("4", "4 hours", "0h", "-1h", "h", "1.5h", "", "4x", None):
        with pytest.raises(ValidationError, match="is not a duration"):
            parse_duration(bad)


def test_specs_build_the_sla_a_task_keeps() -> None:
    assert apply_specs(None, ["4h"]) == "4h"
    assert apply_specs("4h", ["review=1d"]) == {"ready": "4h", "in-progress": "4h", "review": "1d"}
    assert apply_specs({"max_in_progress_s": 60}, ["ready=2h"]) == {
        "max_in_progress_s": 60,
        "ready": "2h",
    }
    assert apply_specs({"ready": "2h"}, ["ready=none"]) is None
    assert apply_specs("4h", ["none"]) is None
    with pytest.raises(ValidationError, match="'done' is not a state an SLA limits"):
        apply_specs(None, ["done=1h"])
    with pytest.raises(ValidationError, match=r"sla 'review=soon': 'soon' is not a duration"):
        apply_specs(None, ["review=soon"])
    assert limit_for("4h", "review") == 14400 and limit_for("4h", "blocked") is None
    assert limit_for({"max_in_progress_s": 90}, "in-progress") == 90


def test_a_breach_is_planned_per_state_from_the_last_transition() -> None:
    two_hours_ago = "2026-11-23T08:00:00Z"
    result = plan(
        snap(
            row("t-0001", "ready", sla="1h", entered=two_hours_ago),
            row("t-0002", "review", sla={"review": "1d"}, entered=two_hours_ago),
            row("t-0003", "review", sla={"review": "1h"}, entered=two_hours_ago),
            row("t-0004", "blocked", sla={"blocked": "30m"}, entered=two_hours_ago),
            row("t-0005", "blocked", sla="1h", entered=two_hours_ago),  # bare: not blocked
            row("t-0006", "ready", sla="1h", entered="2026-11-23T09:30:00Z"),
            row("t-0007", "review", sla="1h", entered=two_hours_ago, sla_notified=two_hours_ago),
            row("t-0008", "backlog", sla="1h", entered=two_hours_ago),
        ),
        NOW,
        CFG,
    )
    assert notices(result) == [("t-0001", "ready"), ("t-0003", "review"), ("t-0004", "blocked")]
    first = next(a for a in result["actions"] if a["kind"] == "notify")
    assert first["since"] == two_hours_ago
    assert first["reason"] == f"ready for longer than its SLA of 1h (since {two_hours_ago})"


def test_older_tasks_count_from_their_claim_or_last_update() -> None:
    result = plan(
        snap(
            row(
                "t-0001",
                "in-progress",
                holder="x",
                expires="2030-01-01T00:00:00Z",
                acquired="2026-11-23T08:00:00Z",
                sla={"max_in_progress_s": 3600},
            ),
            row("t-0002", "ready", sla="1h", updated="2026-11-23T09:30:00Z"),
        ),
        NOW,
        CFG,
    )
    assert notices(result) == [("t-0001", "in-progress")]


def test_a_breach_is_applied_once_per_period_and_again_after_a_move(
    root: Path, clock: FixedClock
) -> None:
    set_notify(
        root,
        'notify:\n  channels:\n    log: "file:n.jsonl"\n'
        "  rules:\n    - events: [sla_breached]\n      channels: [log]\n",
    )
    fleet = Fleet(root, clock=clock, actor="human:tester")
    task = fleet.create_task("Slow one", ready=True, sla=["ready=1h", "in-progress=2h"])
    clock.advance(3601)
    assert [a["kind"] for a in fleet.apply(fleet.plan())] == ["notify"]
    assert fleet.apply(fleet.plan()) == []  # once per period
    fleet.claim(task.id, "a", ttl_s=86400)  # a new period: in-progress, 2h
    clock.advance(3601)
    assert fleet.apply(fleet.plan()) == []
    clock.advance(3600)
    applied = fleet.apply(fleet.plan())
    assert [(a["kind"], a["state"], a["ok"]) for a in applied] == [("notify", "in-progress", True)]
    breaches = [r for r in fleet.audit.records() if r["action"] == "sla_breach"]
    assert [r["reason"].split(" for ")[0] for r in breaches] == ["ready", "in-progress"]
    assert [e["event"] for e in outbox_lines(root)] == ["sla_breached", "sla_breached"]
    assert outbox_lines(root)[1]["title"] == "Slow one"


def test_a_breach_planned_before_a_move_is_not_applied_after_it(
    root: Path, clock: FixedClock
) -> None:
    fleet = Fleet(root, clock=clock, actor="human:tester")
    task = fleet.create_task("x", ready=True, sla=["1h"])
    clock.advance(3601)
    result = fleet.plan()
    fleet.demote(task.id)
    fleet.promote(task.id)  # back in ready: a new period that has not run out
    [applied] = fleet.apply(result)
    assert not applied["ok"] and "moved since the plan" in applied["error"]


def test_sla_from_the_cli(run: Cli) -> None:
    created = run.json("task", "create", "Hotfix", "--sla", "4h", "--sla", "review=1d")
    assert created["meta"]["sla"] == {"ready": "4h", "in-progress": "4h", "review": "1d"}
    edited = run.json("task", "edit", created["id"], "--sla", "blocked=2d", "--sla", "ready=none")
    assert edited["meta"]["sla"] == {"in-progress": "4h", "review": "1d", "blocked": "2d"}
    plain = run.json("task", "edit", created["id"], "--sla", "30m")
    assert plain["meta"]["sla"] == "30m"
    cleared = run.json("task", "edit", created["id"], "--sla", "none")
    assert "sla" not in cleared["meta"]
    bad = run("task", "create", "x", "--sla", "4 hours", code=6)
    assert "sla '4 hours': '4 hours' is not a duration" in bad.stderr
    bad = run("task", "edit", created["id"], "--sla", "done=1h", code=6)
    assert "'done' is not a state an SLA limits" in bad.stderr


def test_sla_from_mcp(root: Path, clock: FixedClock) -> None:
    server = serve(root, clock, profile="all")
    created = ok(call(server, "aof_create", title="Hotfix", sla=["review=1d", "ready=2h"]))
    assert Fleet(root).get_task(created["id"]).meta["sla"] == {"review": "1d", "ready": "2h"}


def test_a_hand_written_sla_is_validated_with_file_and_field(fleet: Fleet) -> None:
    task = fleet.create_task("x")
    with pytest.raises(ValidationError, match=r"sla.review: must be a duration like 30m"):
        fleet.edit_task(task.id, set_fields={"sla": {"review": "tomorrow"}})
    with pytest.raises(ValidationError, match=r"sla.reviw: not a state an SLA limits"):
        fleet.edit_task(task.id, set_fields={"sla": {"reviw": "1h"}})
    fleet.edit_task(task.id, set_fields={"sla": {"max_in_progress_s": 600}})  # the older form


def test_every_move_records_when_the_task_entered_its_state(
    run: Cli, fleet: Fleet, clock: FixedClock
) -> None:
    task = fleet.create_task("x")
    clock.advance(60)
    moved = fleet.promote(task.id)
    assert moved.meta["entered"] == "2026-11-21T09:01:00Z"
    clock.advance(60)
    assert fleet.edit_task(task.id, title="y").meta["entered"] == "2026-11-21T09:01:00Z"
    rows = json.loads(run("task", "list", "--json").stdout)
    assert rows[0]["entered"] == "2026-11-21T09:01:00Z"
