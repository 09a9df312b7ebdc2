"""The daemon's plan memo gives what the planner gives, at every time, for every fleet.

Drawn fleets (the planner's own strategy, with back-offs, SLAs and coder pauses added) are
planned at drawn times, in order, by a memo and by the planner; every plan and its digest
must be the same. The times include the instants the plan turns on (a lease's expiry, a
back-off's end, an SLA's deadline, a pause's end, a schedule's window, a month's end) and
the moments just before and after them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aof.clock import format_time, parse_time
from aof.planner.memo import PlanMemo
from aof.planner.plan import digest, plan

from .test_planner import NOW, fleets

MINUTE = timedelta(minutes=1)


@st.composite
def timed_fleets(draw: Any) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    snap, config = draw(fleets())
    instants = []
    for t in snap["tasks"]:
        if t["state"] == "ready" and draw(st.booleans()):
            t["retry_after"] = format_time(NOW + draw(st.integers(-30, 90)) * MINUTE)
            instants.append(t["retry_after"])
        if draw(st.integers(0, 3)) == 0:
            t["sla"] = draw(st.sampled_from(["30m", "2h", {"ready": "1h"}, "1d"]))
            t["entered"] = format_time(NOW - draw(st.integers(0, 120)) * MINUTE)
            t["sla_notified"] = draw(st.sampled_from([None, None, "2026-11-23T09:00:00Z"]))
        if t.get("expires"):
            instants.append(t["expires"])
    if draw(st.booleans()):
        until = format_time(NOW + draw(st.integers(1, 120)) * MINUTE)
        snap["coder_pauses"] = {"demo": until}
        instants.append(until)
    offsets = draw(st.lists(st.integers(0, 60 * 24 * 40), min_size=1, max_size=12))
    times = [NOW + m * MINUTE for m in offsets]
    for when in instants:  # each instant the plan turns on, and a second either side
        at = parse_time(when)
        times += [at - timedelta(seconds=1), at, at + timedelta(seconds=1)]
    times += [NOW.replace(hour=16, minute=0) + k * 30 * MINUTE for k in range(4)]  # 17:00
    times.append(parse_time("2026-12-01T00:00:00Z"))  # the month's end
    return snap, config, sorted(t for t in times if t >= NOW)


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(timed_fleets())
def test_the_memo_plans_what_the_planner_plans_at_every_time(drawn: Any) -> None:
    snap, config, times = drawn
    memo = PlanMemo()
    for now in times:
        for _ in range(2):  # the second time at the same instant is the memo's own
            got = memo.plan(snap, now, config)
            want = plan(snap, now, config)
            assert same(got, want), now
            assert memo.digest(got) == digest(want)
            for action in got["actions"]:  # what a caller does to its plan stays its own
                action["kind"] = "changed by the caller"
            got["waiting"].clear()
            got["order"].append("t-9999")
    assert memo.hits >= len(times)  # each second call at least: the memo is used


@settings(max_examples=150, deadline=None)
@given(timed_fleets(), st.data())
def test_a_changed_input_is_planned_again(drawn: Any, data: Any) -> None:
    snap, config, _times = drawn
    memo = PlanMemo()
    memo.plan(snap, NOW, config)
    changed = json.loads(json.dumps(snap))  # new rows, equal: still the memo's plan
    assert same(memo.plan(changed, NOW, config), plan(snap, NOW, config))
    which = data.draw(st.sampled_from(["task", "state", "team", "config", "pause"]))
    if which == "task" and changed["tasks"]:
        row = data.draw(st.sampled_from(changed["tasks"]))
        row["priority"] = "critical" if row["priority"] != "critical" else "low"
        row["attempts"] = 0
    elif which == "state" and changed["tasks"]:
        changed["tasks"].pop(0)
    elif which == "team":
        changed["teams"]["a"]["max_concurrent"] = 0
    elif which == "config":
        config = {**config, "scheduler": {**config["scheduler"], "max_concurrent": 9}}
    else:
        changed["coder_pauses"] = {"demo": format_time(NOW + 5 * MINUTE)}
    assert same(memo.plan(changed, NOW, config), plan(changed, NOW, config))
