"""The cost ledger: real-shaped coder output through the adapters and the meter into settled
runs, ``aof cost`` by team, coder and month to the cent, monthly budgets that hold back
dispatch (``aof why`` says so), and the 80 % / 100 % notifications, once each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aof import FixedClock, Fleet
from aof.coders.adapters import get
from aof.coders.pricing import estimate, price, rates, version
from aof.fleetapi import cost as fleet_cost
from aof.runner.meter import Meter
from aof.store.costs import format_row, parse_row

from .conftest import git, git_clean, set_default_coder
from .notify_helpers import outbox_lines, set_notify
from .test_agents import aof, daemon, task, world  # noqa: F401  (world: a fixture)

USAGE = Path(__file__).parent / "fakes" / "usage"


def meter_of(coder: str, name: str, model: str | None = None) -> Meter:
    """Feed a recorded transcript through the coder's adapter into a run's meter."""
    parser = get(coder).parser()
    meter = Meter()
    meter.model = model  # the model the run asked for (the shim sets it from run.json)
    for line in (USAGE / name).read_text(encoding="utf-8").splitlines(keepends=True):
        for event in parser.feed(line):
            meter.take(event)
    return meter


def usage_of(coder: str, name: str, model: str | None = None, **extra: Any) -> dict[str, Any]:
    return {**meter_of(coder, name, model).usage(), "coder": coder, **extra}


CLAUDE_USD = 0.0727685  # the result event's total_cost_usd
CODEX_USD = ((187304 - 162688) * 1.25 + 162688 * 0.125 + 4121 * 10.0) / 1e6
GEMINI_USD = ((48210 - 30112) * 1.25 + 30112 * 0.125 + (1290 + 2130) * 10.0) / 1e6 + (
    2100 * 0.3 + (45 + 56) * 2.5
) / 1e6


def test_claude_cost_is_the_reported_one_and_every_model_is_kept() -> None:
    meter = meter_of("claude", "claude.jsonl")
    used = meter.usage()
    assert used["cost_usd"] == CLAUDE_USD
    assert used["model"] == "claude-sonnet-4-5-20250929"
    assert used["models"]["claude-sonnet-4-5-20250929"] == {
        "input": 17,
        "cached_input": 26600,
        "cache_write": 14170,
        "output": 490,
        "reasoning": 0,
    }
    assert used["models"]["claude-haiku-4-5-20251001"]["input"] == 3200  # the sub-agent's


def test_claude_usage_repeated_per_content_block_is_counted_once() -> None:
    meter = Meter()
    parser = get("claude").parser()
    lines = (USAGE / "claude.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[:-1]:  # everything before the result event
        for event in parser.feed(line):
            meter.take(event)
    sonnet = meter.usage()["models"]["claude-sonnet-4-5-20250929"]
    assert (sonnet["input"], sonnet["cache_write"], sonnet["output"]) == (17, 14170, 490)
    assert meter.usage()["cost_usd"] is None  # no figure yet: only the result reports one


def test_codex_and_gemini_tokens_are_priced_from_the_table() -> None:
    codex = usage_of("codex", "codex.jsonl", model="gpt-5-codex")
    assert codex["cost_usd"] is None
    assert codex["models"]["gpt-5-codex"]["cached_input"] == 162688
    assert price(codex["models"], None) == (round(CODEX_USD, 6), "estimated")
    gemini = usage_of("gemini", "gemini.json")
    assert set(gemini["models"]) == {"gemini-2.5-pro", "gemini-2.5-flash"}
    assert gemini["models"]["gemini-2.5-pro"]["reasoning"] == 2130
    assert price(gemini["models"], None) == (round(GEMINI_USD, 6), "estimated")


def test_the_price_table_is_pinned_and_never_makes_a_price_up() -> None:
    assert version() == "2025-11-24"
    assert rates("claude-opus-4-5-20251101") == rates("claude-opus-4-5")
    assert rates("anthropic/claude-sonnet-4-5@20250929") == rates("claude-sonnet-4-5")
    assert rates("gpt-5-codex") == rates("gpt-5")  # its own entry, the same prices
    assert rates("some-model-nobody-knows") is None
    tokens = {"input": 1000, "output": 10}
    assert estimate("some-model-nobody-knows", tokens) is None
    assert price({"some-model-nobody-knows": tokens}, None) == (None, "unknown")
    assert price({"gpt-5": tokens, "mystery": tokens}, None) == (None, "unknown")
    assert price({}, None) == (None, "unknown")
    assert price({}, 0.25) == (0.25, "reported")


def setup_fleet(fleet: Fleet) -> None:
    reg = fleet.registry
    for team in ("web", "data"):
        reg.create("team", team, {"name": team.title(), "mission": "m", "ownership": "company"})
    reg.create("project", "site", {"team": "web", "root_path": "/tmp/site"})
    reg.create("project", "etl", {"team": "data", "root_path": "/tmp/etl"})


def settle(fleet: Fleet, project: str, usage: dict[str, Any], *, title: str = "work") -> str:
    task = fleet.create_task(title, project=project, ready=True)
    token = fleet.claim(task.id, "coder-1").lease["token"]  # type: ignore[index]
    used = {**usage, "run": f"{task.id}.1", "attempt": 1, "agent": "coder-1"}
    spent = {"usd": used["cost_usd"] or 0, "tokens": 1}
    fleet.settle_run(task.id, token, outcome="exited", reason="exit 0", spent=spent, usage=used)
    return task.id


def test_settled_runs_roll_up_by_team_coder_and_month_to_the_cent(
    fleet: Fleet, root: Path, run: Any, clock: FixedClock
) -> None:
    setup_fleet(fleet)
    claude = usage_of("claude", "claude.jsonl")
    settle(fleet, "site", claude)
    settle(fleet, "site", usage_of("codex", "codex.jsonl", model="gpt-5-codex"))
    settle(fleet, "etl", usage_of("gemini", "gemini.json"))
    settle(fleet, "etl", usage_of("codex", "codex.jsonl"))  # no model known: unknown cost
    assert git_clean(root)  # each row was committed with its settle
    month = clock.now().strftime("%Y-%m")
    ledger = (root / "costs" / f"{month}.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in ledger.splitlines()]
    assert [r["cost_source"] for r in rows] == ["reported", "estimated", "estimated", "unknown"]
    assert rows[0]["cost_usd"] == CLAUDE_USD and rows[0]["team"] == "web"
    assert rows[0]["models"]["claude-haiku-4-5-20251001"]["output"] == 210
    assert rows[3]["cost_usd"] is None and rows[3]["cached_input"] == 162688

    by_team = run.json("cost", "--month", month, "--by", "team")
    assert by_team["month"] == month and by_team["price_table"] == version()
    teams = {r["key"]: r for r in by_team["rows"]}
    assert round(teams["web"]["cost_usd"], 2) == round(CLAUDE_USD + CODEX_USD, 2)
    assert teams["web"]["reported_usd"] == CLAUDE_USD
    assert round(teams["data"]["cost_usd"], 6) == round(GEMINI_USD, 6)
    assert teams["data"]["unknown_runs"] == 1 and teams["data"]["runs"] == 2
    coders = {r["key"]: r for r in run.json("cost", "--month", month, "--by", "coder")["rows"]}
    assert coders["claude"]["cost_usd"] == CLAUDE_USD
    assert coders["codex"]["runs"] == 2
    assert run.json("cost", "--month", "2020-01")["total"]["runs"] == 0
    assert fleet_cost(fleet)["total"] == by_team["total"]  # the clock's month by default
    text = run("cost", "--month", month).stdout
    assert f"${CLAUDE_USD + CODEX_USD + GEMINI_USD:,.2f} in 4 run(s)" in text
    assert "1 run(s) of unknown cost" in text
    run("cost", "--month", "2026-13", code=6)


def test_a_run_settled_twice_has_one_row(fleet: Fleet, root: Path, clock: FixedClock) -> None:
    setup_fleet(fleet)
    task = fleet.create_task("work", project="site", ready=True)
    token = fleet.claim(task.id, "coder-1").lease["token"]  # type: ignore[index]
    used = {**usage_of("claude", "claude.jsonl"), "run": f"{task.id}.1", "attempt": 1}
    fleet.settle_run(task.id, token, outcome="stuck", reason="silent", usage=used)
    # The daemon settles it again (its supervisor's settle looked lost), from meter.json.
    fleet.settle_run(task.id, token, outcome="exited", reason="exit 1", usage=used)
    assert fleet.record_cost(task.id, used, outcome="lost-lease") is False
    month = clock.now().strftime("%Y-%m")
    assert len((root / "costs" / f"{month}.jsonl").read_text().splitlines()) == 1
    assert git_clean(root)


def test_a_team_over_its_budget_is_not_dispatched_until_the_next_month(
    root: Path, run: Any, clock: FixedClock
) -> None:
    set_default_coder(root)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    setup_fleet(fleet)
    run("team", "update", "web", "--budget-usd-month", "0.05")
    assert fleet.registry.get("team", "web").meta["budget"] == {"usd_month": 0.05}
    settle(fleet, "site", usage_of("claude", "claude.jsonl"))  # $0.07 of $0.05
    waiting = fleet.create_task("more work", project="site", ready=True)
    other = fleet.create_task("their work", project="etl", ready=True)
    month = clock.now().strftime("%Y-%m")
    # What `aof why` and `aof plan` print (the fleet's clock: the month of the spend).
    why = fleet.why(waiting.id)
    assert f"team web is over its monthly budget: $0.07 of $0.05 spent in {month}" in why
    plan = fleet.plan()
    assert {a["task"] for a in plan["actions"] if a["kind"] == "dispatch"} == {other.id}
    waits = {w["task"]: w["reason"] for w in plan["waiting"]}
    assert waits[waiting.id].startswith("team web is over its monthly budget")
    assert "dispatched now" in fleet.why(other.id)
    # A project's budget holds its tasks back the same way.
    run("project", "update", "etl", "--budget-usd-month", "0")
    assert "project etl is over its monthly budget: $0.00 of $0.00" in fleet.why(other.id)
    # Next month nothing is spent yet.
    clock.advance(days=40)
    assert "dispatched now" in fleet.why(waiting.id)
    cost = run.json("cost", "--month", month)
    web = next(r for r in cost["rows"] if r["key"] == "web")
    assert web["budget_usd_month"] == 0.05 and web["budget_used"] > 1


BUDGET_NOTES = """
notify:
  channels:
    log: "file:notifications.jsonl"
  rules:
    - events: [budget_warning, budget_exhausted]
      channels: [log]
"""


def test_budget_notifications_fire_once_at_80_and_100_percent(
    root: Path, clock: FixedClock
) -> None:
    set_notify(root, BUDGET_NOTES)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    setup_fleet(fleet)
    fleet.registry.update("team", "web", {"budget": {"usd_month": 0.2}})
    claude = usage_of("claude", "claude.jsonl")  # $0.0727685 a run
    for n in range(5):  # 36 %, 73 %, 109 % (exhausted; no warning left behind), 146 %, 182 %
        settle(fleet, "site", claude, title=f"run {n}")
    events = [(e["event"], e.get("team")) for e in outbox_lines(root)]
    assert events == [("budget_exhausted", "web")]
    fleet.registry.update("team", "web", {"budget": {"usd_month": 0.5}})
    for n in range(3):  # 182 % of 0.2 is 58 % of 0.5: 73 %, 87 % (warning), 102 % (exhausted)
        settle(fleet, "site", claude, title=f"more {n}")
    events = [(e["event"], e.get("team")) for e in outbox_lines(root)]
    assert events == [
        ("budget_exhausted", "web"),
        ("budget_warning", "web"),
        ("budget_exhausted", "web"),
    ]
    last = outbox_lines(root)[-1]
    assert last["severity"] == "urgent" and "of its $0.50 monthly budget" in last["reason"]
    assert len({e["fp"] for e in outbox_lines(root)}) == 3
    git(root, "log", "--oneline")  # the history is intact


@given(
    st.fixed_dictionaries(
        {
            "run": st.text(min_size=1, max_size=20),
            "task": st.text(max_size=12),
            "input": st.integers(min_value=0, max_value=10**12),
            "cost_usd": st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
            "cost_source": st.sampled_from(["reported", "estimated", "unknown"]),
            "models": st.dictionaries(
                st.text(max_size=10), st.dictionaries(st.text(max_size=8), st.integers())
            ),
        }
    )
)
def test_a_ledger_row_survives_format_and_parse(row: dict[str, Any]) -> None:
    line = format_row(row)
    assert "\n" not in line
    assert parse_row(line) == row


@pytest.mark.parametrize("line", ["", "{", "[1]", '{"task": "t"}', "not json"])
def test_a_torn_or_foreign_line_is_no_row(line: str) -> None:
    assert parse_row(line) is None


def test_real_runs_through_the_supervisor_leave_their_rows(world: dict[str, Any]) -> None:  # noqa: F811
    """Claude and Codex transcripts replayed by fake coders under the daemon: each settled
    run has its row, committed; Claude's to the cent of its result event."""
    claude = task(world, "Fix dates", "--ready", "--coder", "claude")
    daemon(world, FAKE_TRANSCRIPT=str(USAGE / "claude.jsonl"))
    codex = task(world, "Fix dates again", "--ready", "--coder", "codex", "--model", "gpt-5-codex")
    daemon(world, FAKE_TRANSCRIPT=str(USAGE / "codex.jsonl"))
    root = Path(world["root"])
    (month_file,) = sorted((root / "costs").iterdir())
    rows = {r["task"]: r for r in map(json.loads, month_file.read_text().splitlines())}
    assert rows[claude]["cost_usd"] == CLAUDE_USD and rows[claude]["cost_source"] == "reported"
    assert rows[claude]["team"] == "core" and rows[claude]["project"] == "proj"
    assert rows[claude]["outcome"] == "completed" and rows[claude]["run"] == f"{claude}.1"
    assert rows[codex]["model"] == "gpt-5-codex" and rows[codex]["cost_source"] == "estimated"
    assert rows[codex]["cost_usd"] == round(CODEX_USD, 6)
    assert git(root, "status", "--porcelain") == ""
    out = json.loads(
        aof(world, "cost", "--month", month_file.stem, "--by", "coder", "--json").stdout
    )
    assert {r["key"]: r["cost_usd"] for r in out["rows"]} == {
        "claude": CLAUDE_USD,
        "codex": round(CODEX_USD, 6),
    }
