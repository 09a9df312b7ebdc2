"""Context pressure: coders report the context in use, the supervisor keeps its current and
peak percent in meter.json, ends a run at runner.context_stop_pct and leaves a hand-off note
under ## Hand-off that the next attempt's prompt carries; `aof top` shows the peak."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aof import Fleet, State
from aof.coders.adapters.claude import ClaudeParser
from aof.coders.adapters.codex import CodexParser
from aof.coders.adapters.demo import DemoParser
from aof.model.text import section
from aof.runner.meter import Meter

from .conftest import Cli, git, git_clean
from .test_agents import (
    FAKES,
    aof,
    audit_actions,
    configure,
    outcome,
    run_dir,
    task,
    wait_for,
    world,
)
from .test_agents import fleet as fleet_of

__all__ = ["world"]  # the fixture, shared with test_agents


# --- what the adapters report ---------------------------------------------------------------


def _assistant(mid: str, usage: dict[str, int], **extra: Any) -> str:
    message = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-5-20251101",
        "content": [{"type": "text", "text": "Working on it."}],
        "usage": {"output_tokens": 9, "service_tier": "standard", **usage},
    }
    return json.dumps({"type": "assistant", "message": message, "session_id": "s1", **extra})


def _context(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(e["used"], e["window"]) for e in events if e["event"] == "context_use"]


def test_claude_reports_the_prompt_size_of_each_main_message() -> None:
    p = ClaudeParser()
    init = {"type": "system", "subtype": "init", "session_id": "s1", "model": "claude-opus-4-5"}
    assert _context(p.feed(json.dumps(init))) == []
    usage = {
        "input_tokens": 2,
        "cache_creation_input_tokens": 7924,
        "cache_read_input_tokens": 13368,
    }
    assert _context(p.feed(_assistant("msg_1", usage))) == [(21294, 200000)]
    # stream-json repeats a message's usage on each of its content blocks: counted once
    assert _context(p.feed(_assistant("msg_1", usage))) == []
    # a sub-agent's message has a context of its own: its usage counts, its context does not
    sub = _assistant("msg_2", {"input_tokens": 150000}, parent_tool_use_id="toolu_9")
    events = p.feed(sub)
    assert _context(events) == [] and any(e["event"] == "usage" for e in events)
    bigger = {"input_tokens": 5, "cache_read_input_tokens": 90000}
    assert _context(p.feed(_assistant("msg_3", bigger))) == [(90005, 200000)]
    # the final result gives the real window: the last context in use against it
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "done",
        "session_id": "s1",
        "usage": {"input_tokens": 7, "output_tokens": 27},
        "modelUsage": {
            "claude-opus-4-5": {"inputTokens": 7, "contextWindow": 1000000},
            "claude-haiku-4-5": {"inputTokens": 900, "contextWindow": 200000},
        },
    }
    assert _context(p.feed(json.dumps(result))) == [(90005, 1000000)]


def test_claude_window_defaults_by_model_and_follows_the_stream() -> None:
    p = ClaudeParser()
    p.feed(json.dumps({"type": "system", "subtype": "init", "model": "claude-sonnet-4-5[1m]"}))
    assert _context(p.feed(_assistant("m", {"input_tokens": 500000}))) == [(500000, 1000000)]
    q = ClaudeParser()
    q.feed(json.dumps({"type": "system", "subtype": "init", "context_window": 400000}))
    assert _context(q.feed(_assistant("m", {"input_tokens": 100000}))) == [(100000, 400000)]
    # nothing to report: no usage, or a result without an earlier message
    assert _context(q.feed(_assistant("n", {}))) == []
    assert _context(ClaudeParser().feed(json.dumps({"type": "result", "modelUsage": {}}))) == []


def test_the_recorded_transcripts_parse_as_before_plus_context_use() -> None:
    claude = ClaudeParser()
    lines = (FAKES / "claude.jsonl").read_text().splitlines()
    events = [e for line in lines for e in claude.feed(line)]
    assert _context(events) == [(10200, 200000), (300, 200000)]
    codex = CodexParser()
    lines = (FAKES / "codex.jsonl").read_text().splitlines()
    assert not _context([e for line in lines for e in codex.feed(line)])  # codex reports none


def test_the_demo_coder_passes_context_use_through() -> None:
    line = json.dumps({"demo": "context_use", "used": 50000, "window": 200000})
    assert DemoParser().feed(line) == [{"event": "context_use", "used": 50000, "window": 200000}]


def test_the_meter_keeps_current_and_peak_context_percent() -> None:
    m = Meter()
    assert m.context_pct is None and m.context_peak_pct is None
    for used in (50000, 170500, 20000):
        m.take({"event": "context_use", "used": used, "window": 200000})
    assert (m.context_pct, m.context_peak_pct) == (10.0, 85.2)
    m.take({"event": "context_use", "used": 10, "window": 0})  # nonsense is ignored
    assert m.context_pct == 10.0


# --- aof.yaml ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", "101", "'85'", "true", ".nan"])
def test_a_bad_context_stop_pct_is_refused_naming_file_field_and_value(
    fleet: Fleet, run: Cli, value: str
) -> None:
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text() + f"runner:\n  context_stop_pct: {value}\n")
    err = run("task", "list", code=7).stderr
    assert "aof.yaml: runner.context_stop_pct: must be a number above 0 and at most 100" in err
    assert "(got " in err and err.count("\n") == 1


@pytest.mark.parametrize(("value", "expected"), [("100", 100), ("null", None), ("12.5", 12.5)])
def test_context_stop_pct_takes_a_percent_or_null(
    fleet: Fleet, run: Cli, value: str, expected: float | None
) -> None:
    assert Fleet(fleet.root).config.data["runner"]["context_stop_pct"] == 85  # the default
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text() + f"runner:\n  context_stop_pct: {value}\n")
    run("task", "list")
    assert Fleet(fleet.root).config.data["runner"]["context_stop_pct"] == expected


# --- the hand-off, through Fleet -----------------------------------------------------------


def test_a_context_stop_is_not_counted_and_keeps_the_newest_hand_offs(fleet: Fleet) -> None:
    t = fleet.create_task("Long job", ready=True, body="## Objective\n\nDo it all.\n")
    for n in range(1, 5):
        tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
        note = f"context-stopped: reached 86% (run {n})\nStep {n} committed.\n## Not a heading"
        task, final = fleet.settle_run(
            t.id, tok, outcome="context-stopped", reason="86%", handoff=note + "x" * 5000
        )
        assert final == "context-stopped" and task.state == State.READY
        assert task.meta["attempts"] == 0  # never a failed attempt
    handoff = section(task.body, "Hand-off")
    assert "(run 1)" not in handoff and all(f"(run {n})" in handoff for n in (2, 3, 4))
    assert handoff.index("(run 2)") < handoff.index("(run 4)")  # the newest last
    assert "\n  \\## Not a heading" in handoff  # the note cannot start a section
    assert len(handoff) < 3 * 3100  # each note is capped
    assert section(task.body, "Objective") == "Do it all."
    assert git_clean(fleet.root)
    runs = [r for r in fleet.audit.records() if r["action"] == "run_ended"]
    assert len(runs) == 4 and runs[-1]["reason"].startswith("context-stopped")


def test_other_outcomes_write_no_hand_off(fleet: Fleet) -> None:
    t = fleet.create_task("Short job", ready=True)
    tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    task, _ = fleet.settle_run(t.id, tok, outcome="stuck", reason="silent", handoff="ignored")
    assert section(task.body, "Hand-off") == ""


# --- end to end: real supervisor, real coders, real git ------------------------------------


def test_claude_is_stopped_at_the_threshold_and_the_next_attempt_reads_the_hand_off(
    world: dict[str, Any],
) -> None:
    tid = task(world, "Long refactor", "--ready", "--coder", "claude")
    aof(world, "daemon", "--once", "--quiet", FAKE_MODE="fill")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists(), timeout=60)
    first = outcome(world, tid)
    assert first["outcome"] == "context-stopped", first
    assert "runner.context_stop_pct 85" in first["reason"]
    assert first["context_peak_pct"] >= 85
    meter = json.loads((run_dir(world, tid) / "meter.json").read_text())
    assert meter["context_peak_pct"] == first["context_peak_pct"] >= meter["context_pct"]
    t = fleet_of(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 0
    handoff = section(t.body, "Hand-off")
    assert "context-stopped: its context use reached" in handoff
    assert "Step 5 done: step-5.txt committed." in handoff
    assert "claude: step 1" in handoff and "Files changed: step-1.txt" in handoff
    assert git_clean(world["root"]) and "run_ended" in audit_actions(world, tid)
    # The next attempt: same branch and worktree, the note in its prompt; it finishes.
    aof(world, "daemon", "--until-idle", "--interval", "0.2", "--quiet", FAKE_MODE="complete")
    assert fleet_of(world).get_task(tid).state == State.DONE
    calls = [json.loads(x) for x in world["log"].read_text().splitlines()]
    assert len(calls) == 2 and calls[0]["cwd"] == calls[1]["cwd"]
    prompt = calls[1]["argv"][1]
    assert "## Where the last attempt stopped" in prompt and "## Hand-off" in prompt
    assert "Step 5 done" in prompt and "claude: step 1" in prompt
    log = git(world["repo"], "log", "--format=%s", f"aof/{tid}").splitlines()
    assert log[0] == "claude: hello" and "claude: step 1" in log


def _top_row(world: dict[str, Any], tid: str) -> dict[str, Any]:
    rows = json.loads(aof(world, "top", "--json").stdout)
    return next((r for r in rows if r["task"] == tid), {})


def test_the_demo_coder_fills_its_context_hands_off_and_top_shows_the_peak(
    world: dict[str, Any],
) -> None:
    configure(world["root"], "runner:\n  context_stop_pct: 60\n")
    tid = task(world, "Long demo", "--ready", "--label", "demo:fill-context", "--label", "session")
    aof(world, "daemon", "--once", "--quiet", AOF_DEMO_SECONDS="0.3")
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists(), timeout=60)
    assert outcome(world, tid)["outcome"] == "context-stopped"
    assert outcome(world, tid)["context_peak_pct"] == 70.0  # 25, 40, 55, 70: past 60
    t = fleet_of(world).get_task(tid)
    assert "Step 4 is committed" in section(t.body, "Hand-off")
    # The agent session waits for its next attempt; its peak context is in the listing.
    row = _top_row(world, tid)
    assert row["state"] == "ready" and row["context_peak_pct"] == 70.0
    head, line = aof(world, "top", "--once").stdout.splitlines()[:2]
    assert "CTX" in head.split() and "70%" in line.split()
    # A follow-up starts a fresh conversation (the old one is full) that reads the hand-off.
    follow = json.loads(aof(world, "agent", "prompt", tid, "Carry on", "--json").stdout)
    assert follow["resumed"] is None and follow["task"] == tid
    wait_for(lambda: fleet_of(world).get_task(tid).state == State.DONE, timeout=60)
    note = git(world["repo"], "show", f"aof/{tid}:aof-demo/{tid}.md")
    assert "Continued from the hand-off of an earlier attempt." in note


def test_without_a_threshold_the_window_runs_out_and_still_hands_off(
    world: dict[str, Any],
) -> None:
    configure(world["root"], "runner:\n  context_stop_pct: null\n")
    tid = task(world, "Unbounded", "--ready", "--label", "demo:fill-context")
    aof(world, "daemon", "--once", "--quiet", AOF_DEMO_SECONDS="1")
    # While it runs, `aof top` shows the peak so far (from the run's meter.json).
    wait_for(lambda: (_top_row(world, tid).get("context_peak_pct") or 0) > 0, timeout=60)
    wait_for(lambda: (run_dir(world, tid) / "outcome.json").exists(), timeout=60)
    ended = outcome(world, tid)
    assert ended["outcome"] == "context-exhausted" and ended["context_peak_pct"] == 100.0
    t = fleet_of(world).get_task(tid)
    assert t.state == State.READY and t.meta["attempts"] == 0
    assert "context-exhausted" in section(t.body, "Hand-off")
