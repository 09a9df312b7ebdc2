"""The planner: determinism, limits, dependencies, windows, order, reasons (hypothesis)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aof import FixedClock, Fleet
from aof.clock import format_time, parse_time
from aof.planner.desired import desired_team
from aof.planner.plan import order_key, plan

from .conftest import Cli, set_default_coder

NOW = parse_time("2026-11-23T10:00:00Z")  # a Monday
TEAMS = ["a", "b", "c"]
PRIOS = ["critical", "high", "normal", "low"]


@st.composite
def fleets(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    n = draw(st.integers(1, 25))
    ids = [f"t-{i:04d}" for i in range(n)]
    tasks, states = [], {}
    for i, tid in enumerate(ids):
        state = draw(
            st.sampled_from(
                ["ready"] * 5
                + ["in-progress", "backlog", "done", "cancelled", "deadletter", "blocked"]
            )
        )
        states[tid] = state
        if state in ("done", "cancelled"):
            continue
        deps = draw(st.lists(st.sampled_from(ids[:i]), max_size=2, unique=True)) if i else []
        t = {
            "id": tid,
            "state": state,
            "priority": draw(st.sampled_from(PRIOS)),
            "team": draw(st.sampled_from([*TEAMS, None])),
            "project": draw(st.sampled_from(["p1", "p2", "p3", None])),
            "depends_on": deps,
            "created": format_time(NOW - timedelta(minutes=n - i)),
            "attempts": draw(st.integers(0, 3)),
            "holder": None,
            "expires": None,
        }
        if state == "in-progress":
            t["holder"] = draw(st.sampled_from(["x1", "x2", "other"]))
            t["expires"] = format_time(NOW + timedelta(minutes=draw(st.integers(-30, 30))))
        tasks.append(t)
    teams = {
        slug: {
            "business_priority": draw(st.integers(0, 100)),
            "max_concurrent": draw(st.sampled_from([None, 0, 1, 2])),
            "override": draw(
                st.sampled_from(
                    [
                        None,
                        {"mode": "freeze", "until": "2026-11-24T00:00:00Z"},
                        {"mode": "force", "state": "running"},
                    ]
                )
            ),
        }
        for slug in TEAMS
    }
    schedules = [
        {
            "slug": slug,
            "team": slug,
            "timezone": "Europe/Berlin",
            "policy": draw(st.sampled_from(["always_on", "manual_only", "business_hours"])),
            "windows": [{"weekday": 0, "start": "09:00", "end": "17:00"}],
        }
        for slug in TEAMS
        if draw(st.booleans())
    ]
    snap = {
        "tasks": tasks,
        "states": states,
        "teams": teams,
        "schedules": schedules,
        "projects": {
            "p1": {"team": "a", "enabled": True, "host": "h1"},
            "p2": {"team": "b", "enabled": draw(st.booleans()), "host": "h2"},
            "p3": {"team": "c", "enabled": True, "host": None},
        },
        "hosts": {
            "h1": {"capacity_slots": draw(st.integers(0, 3))},
            "h2": {"capacity_slots": draw(st.integers(0, 3))},
        },
        "agents": draw(st.sampled_from([{}, {"x1": {"concurrency": 1}, "x2": {"concurrency": 2}}])),
        "coder_pauses": {},
    }
    config = {
        "scheduler": {"max_concurrent": draw(st.integers(1, 6)), "max_attempts": 3},
        "coders": {"demo": {"max_concurrent": draw(st.sampled_from([None, 2, 5]))}},
        "defaults": {"coder": "demo"},
    }
    return snap, config


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_same_inputs_same_plan_and_replay_from_json(fleet_cfg: Any) -> None:
    snap, config = fleet_cfg
    first = json.dumps(plan(snap, NOW, config), sort_keys=True)
    assert json.dumps(plan(snap, NOW, config), sort_keys=True) == first
    replayed = json.loads(json.dumps(snap))  # a recorded snapshot, read back
    assert json.dumps(plan(replayed, NOW, config), sort_keys=True) == first


@settings(max_examples=400, deadline=None)
@given(fleets())
def test_plan_properties(fleet_cfg: Any) -> None:
    snap, config = fleet_cfg
    result = plan(snap, NOW, config)
    by_id = {t["id"]: t for t in snap["tasks"]}
    dispatched = [a for a in result["actions"] if a["kind"] == "dispatch"]
    expired = {a["task"] for a in result["actions"] if a["kind"] == "expire"}
    live = [t for t in snap["tasks"] if t["state"] == "in-progress" and t["id"] not in expired]
    running = live + [by_id[a["task"]] for a in dispatched]
    # No limit is ever exceeded.
    assert len(running) <= max(config["scheduler"]["max_concurrent"], len(live))
    for team, spec in snap["teams"].items():
        if spec["max_concurrent"] is not None and dispatched:
            new = sum(1 for a in dispatched if by_id[a["task"]]["team"] == team)
            old = sum(1 for t in live if t["team"] == team)
            assert new == 0 or old + new <= spec["max_concurrent"]
    for host, spec in snap["hosts"].items():
        on = [t for t in running if (snap["projects"].get(t["project"]) or {}).get("host") == host]
        new = [a for a in dispatched if by_id[a["task"]] in on]
        assert not new or len(on) <= spec["capacity_slots"]
    cap = config["coders"]["demo"]["max_concurrent"]
    if cap is not None and dispatched:
        assert len(running) <= max(cap, len(live))
    for agent, spec in snap["agents"].items():
        mine = [a for a in dispatched if a["agent"] == agent]
        held = [t for t in live if t["holder"] == agent]
        assert not mine or len(mine) + len(held) <= spec["concurrency"]
    for a in dispatched:
        t = by_id[a["task"]]
        assert t["state"] == "ready"
        # No task with an unfinished dependency is dispatched.
        assert all(snap["states"].get(d) == "done" for d in t["depends_on"])
        # Nothing is dispatched outside its team's running state (window, override).
        if t["team"]:
            team = {**snap["teams"][t["team"]], "slug": t["team"]}
            work = sum(
                1
                for x in snap["tasks"]
                if x["team"] == t["team"] and x["state"] in ("ready", "in-progress")
            )
            assert desired_team(team, snap["schedules"], NOW, work).state == "running"
        project = snap["projects"].get(t["project"])
        assert project is None or project["enabled"]
    # Dispatch order respects the order key (priority first).
    keys = [order_key(by_id[a["task"]], snap["teams"]) for a in dispatched]
    assert keys == sorted(keys)
    # Every ready task not dispatched has a reason (or is being blocked).
    accounted = {a["task"] for a in result["actions"]} | {w["task"] for w in result["waiting"]}
    for t in snap["tasks"]:
        if t["state"] == "ready":
            assert t["id"] in accounted
    assert all(w["reason"] for w in result["waiting"])


def snap_with(tasks: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    base = {
        "tasks": tasks,
        "states": {t["id"]: t["state"] for t in tasks},
        "teams": {},
        "schedules": [],
        "projects": {},
        "hosts": {},
        "agents": {},
        "coder_pauses": {},
    }
    base.update(over)
    return base


def task(tid: str, state: str = "ready", **kw: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "state": state,
        "priority": "normal",
        "team": None,
        "project": None,
        "depends_on": [],
        "created": "2026-11-20T00:00:00Z",
        "attempts": 0,
        **kw,
    }


CFG = {"scheduler": {"max_concurrent": 4, "max_attempts": 3}, "defaults": {"coder": "demo"}}


def test_expired_leases_return_or_deadletter_and_free_their_slot() -> None:
    past = format_time(NOW - timedelta(seconds=1))
    snap = snap_with(
        [
            task("t-0001", "in-progress", holder="a", expires=past, attempts=1),
            task("t-0002", "in-progress", holder="b", expires=past, attempts=3),
            task("t-0003"),
        ]
    )
    result = plan(snap, NOW, {**CFG, "scheduler": {"max_concurrent": 1, "max_attempts": 3}})
    kinds = {(a["kind"], a["task"], a.get("to")) for a in result["actions"]}
    assert ("expire", "t-0001", "ready") in kinds and ("expire", "t-0002", "deadletter") in kinds
    assert ("dispatch", "t-0003", None) in kinds  # the expired leases no longer hold the slot


def test_failed_dependency_blocks_its_dependents_visibly() -> None:
    snap = snap_with(
        [task("t-0002", depends_on=["t-0001"])], states={"t-0001": "deadletter", "t-0002": "ready"}
    )
    result = plan(snap, NOW, CFG)
    assert result["actions"] == [
        {"kind": "block", "task": "t-0002", "reason": "dependency t-0001 is deadletter"}
    ]


def test_reasons_name_the_limit() -> None:
    snap = snap_with(
        [
            task("t-0001", "in-progress", holder="x", expires="2030-01-01T00:00:00Z", project="p"),
            task("t-0002", project="p"),
            task("t-0003", retry_after="2026-11-23T11:00:00Z"),
        ],
        projects={"p": {"host": "h", "enabled": True}},
        hosts={"h": {"capacity_slots": 1}},
    )
    waiting = {w["task"]: w["reason"] for w in plan(snap, NOW, CFG)["waiting"]}
    assert waiting["t-0002"] == "host h is full (1 slot(s) in use)"
    assert waiting["t-0003"].startswith("backing off after a failure until")
    paused = snap_with([task("t-0004")], coder_pauses={"demo": "2026-11-23T12:00:00Z"})
    assert plan(paused, NOW, CFG)["waiting"][0]["reason"] == (
        "coder demo is paused until 2026-11-23T12:00:00Z (usage limit)"
    )


def test_sla_breach_is_noticed() -> None:
    snap = snap_with(
        [
            task(
                "t-0001",
                "in-progress",
                holder="x",
                expires="2030-01-01T00:00:00Z",
                acquired="2026-11-23T08:00:00Z",
                sla={"max_in_progress_s": 3600},
            )
        ]
    )
    assert plan(snap, NOW, CFG)["actions"][0]["kind"] == "notify"


def test_cli_plan_why_and_next(run: Cli, root: Any) -> None:
    set_default_coder(root)
    run("team", "create", "--slug", "mkt", "--name", "M", "--mission", "m", "--ownership", "o")
    run(
        "schedule",
        "create",
        "--team",
        "mkt",
        "--timezone",
        "UTC",
        "--policy",
        "business_hours",
        "--window",
        "0,9,17",
    )
    a = run.json("task", "create", "a", "--team", "mkt", "--ready")["id"]
    b = run.json("task", "create", "b", "--depends-on", a, "--ready")["id"]
    c = run.json("task", "create", "c", "--priority", "critical", "--ready")["id"]
    monday, saturday = "2026-11-23T10:00:00Z", "2026-11-21T10:00:00Z"
    p1 = run("plan", "--at", monday, "--json").stdout
    assert p1 == run("plan", "--at", monday, "--json").stdout
    order = [x["task"] for x in json.loads(p1)["actions"] if x["kind"] == "dispatch"]
    assert order == [c, a]
    assert f"waiting on {a} (ready)" in run.json("why", b, "--at", monday)["why"]
    assert "team mkt is paused" in run.json("why", a, "--at", saturday)["why"]
    assert "in the backlog" in run.json("why", run.json("task", "create", "d")["id"])["why"]
    nxt = run.json("task", "next", "--agent", "coder-1", "--claim")
    assert nxt["task"]["id"] == c and nxt["token"] and nxt["task"]["state"] == "in-progress"
    assert "being worked on by coder-1" in run.json("why", c)["why"]


def test_plan_replays_a_recorded_tick(root: Any) -> None:
    clock = FixedClock("2026-11-23T10:00:00Z")
    fleet = Fleet(root, clock=clock)
    for i in range(5):
        fleet.create_task(f"t{i}", ready=True, priority=PRIOS[i % 4])
    snap = fleet.snapshot()
    recorded = json.dumps({"snapshot": snap, "at": "2026-11-23T10:00:00Z"})
    live = fleet.plan(clock.now())
    data = json.loads(recorded)
    assert plan(data["snapshot"], parse_time(data["at"]), fleet.config.data) == live


def test_failed_attempts_back_off_with_seeded_jitter(root: Any) -> None:
    from aof import SeededIds

    clock = FixedClock("2026-11-23T10:00:00Z")
    fleet = Fleet(root, clock=clock, ids=SeededIds(7), actor="human:t")
    t = fleet.create_task("flaky", ready=True)
    waits = []
    for _ in range(2):
        tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
        failed = fleet.fail(t.id, error="boom", token=tok)
        wait = parse_time(failed.meta["retry_after"]) - clock.now()
        waits.append(wait.total_seconds())
        why = fleet.why(t.id)
        assert f"backing off after a failure until {failed.meta['retry_after']}" in why
        assert fleet.next_task("a")["task"] is None
        clock.advance(wait.total_seconds())
        assert fleet.next_task("a")["task"]["id"] == t.id
    assert 45 <= waits[0] <= 75 and 90 <= waits[1] <= 150  # 60 s, then 120 s, +-25 %
    again = Fleet(root, clock=FixedClock("2026-11-23T10:00:00Z"), ids=SeededIds(7))
    assert again.backoff(1) == Fleet(root, ids=SeededIds(7)).backoff(1)  # seeded: exact
    assert fleet.claim(t.id, "a").meta.get("retry_after") is None


def test_apply_blocks_dependents_of_a_failed_dependency(root: Any) -> None:
    clock = FixedClock("2026-11-23T10:00:00Z")
    fleet = Fleet(root, clock=clock, actor="human:t")
    dep = fleet.create_task("dep", ready=True)
    child = fleet.create_task("child", ready=True, depends_on=[dep.id])
    tok = fleet.claim(dep.id, "a").lease["token"]  # type: ignore[index]
    fleet.fail(dep.id, error="broken for good", token=tok, permanent=True)
    done = fleet.apply(fleet.plan())
    assert [(a["kind"], a["ok"]) for a in done] == [("block", True)]
    blocked = fleet.get_task(child.id)
    assert blocked.state.value == "blocked"
    assert blocked.meta["blocked"]["reason"] == f"dependency {dep.id} is deadletter"
    assert f"dependency {dep.id} is deadletter" in fleet.why(child.id)
    assert fleet.apply(fleet.plan()) == []  # nothing left to do: idempotent


def test_apply_notices_an_sla_breach_once(root: Any) -> None:
    clock = FixedClock("2026-11-23T10:00:00Z")
    fleet = Fleet(root, clock=clock, actor="human:t")
    t = fleet.create_task("slow", ready=True)
    fleet.edit_task(t.id, set_fields={"sla": {"max_in_progress_s": 600}})
    fleet.claim(t.id, "a", ttl_s=7200)
    clock.advance(601)
    assert [a["kind"] for a in fleet.apply(fleet.plan())] == ["notify"]
    assert fleet.get_task(t.id).meta["sla_notified"] == "2026-11-23T10:10:01Z"
    assert fleet.apply(fleet.plan()) == []
    actions = [r["action"] for r in fleet.audit.records() if r["entity"]["id"] == t.id]
    assert actions.count("sla_breach") == 1


def test_a_heartbeat_between_plan_and_apply_wins_over_expiry(root: Any) -> None:
    clock = FixedClock("2026-11-23T10:00:00Z")
    fleet = Fleet(root, clock=clock, actor="human:t")
    t = fleet.create_task("x", ready=True)
    tok = fleet.claim(t.id, "a", ttl_s=60).lease["token"]  # type: ignore[index]
    clock.advance(61)
    stale_plan = fleet.plan()
    assert [a["kind"] for a in stale_plan["actions"]] == ["expire"]
    fleet.heartbeat(t.id, tok)  # the agent speaks up before the plan is applied
    result = fleet.apply(stale_plan)
    assert result[0]["ok"] is False and "renewed meanwhile" in result[0]["error"]
    assert fleet.get_task(t.id).state.value == "in-progress"
