"""Coder adapters: the argv of each coder's headless run, and its streamed output (recorded
transcripts in tests/fakes/) normalized into events, usage limits and their reset times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aof.coders import resolve as coders
from aof.coders.adapters import Invocation, get, names
from aof.coders.adapters.base import reset_time, signals
from aof.errors import ConfigError
from aof.runner.meter import Meter

FAKES = Path(__file__).parent / "fakes"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def feed(coder: str, path: Path) -> tuple[list[dict[str, Any]], Meter]:
    parser = get(coder).parser()
    events: list[dict[str, Any]] = []
    meter = Meter()
    for line in path.read_text().splitlines():
        for e in parser.feed(line + "\n"):
            events.append(e)
            meter.take(e)
    return events, meter


def test_every_built_in_is_registered_through_entry_points() -> None:
    assert {"claude", "codex", "aider", "gemini", "opencode", "command", "demo"} <= set(names())
    with pytest.raises(ConfigError, match="not registered"):
        get("no-such-coder")


def test_claude_stream_json_is_normalized() -> None:
    events, meter = feed("claude", FAKES / "claude.jsonl")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert meter.session_id == "4f2d8a1e-claude-session"
    assert [e["tool"] for e in events if e["event"] == "tool"] == ["Edit", "Bash"]
    # The final result's totals win over the per-message figures (no double counting of
    # msg_02, which stream-json repeats once per content block).
    assert (meter.tokens_in, meter.tokens_out, meter.cost) == (1500, 160, 0.0421)
    assert meter.limit is None and meter.context is None


def test_claude_usage_limit_carries_the_reset_time() -> None:
    _, meter = feed("claude", FAKES / "claude-limit.jsonl")
    assert meter.limit is not None
    assert meter.limit["reset_at"] == "2026-11-21T22:30:00Z"


def test_codex_exec_json_is_normalized() -> None:
    events, meter = feed("codex", FAKES / "codex.jsonl")
    assert meter.session_id == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert [e["tool"] for e in events if e["event"] == "tool"] == ["shell", "edit"]
    # Codex's input counts the cached part: the normalized input is what was not cached.
    assert (meter.tokens_in, meter.tokens_out) == (24763 - 24448, 122)
    assert meter.usage()["models"] == {
        "": {"input": 315, "cached_input": 24448, "cache_write": 0, "output": 122, "reasoning": 0}
    }
    assert any(e["event"] == "text" and "hello.txt" in e["text"] for e in events)


def test_aider_text_is_normalized() -> None:
    events, meter = feed("aider", FAKES / "aider.txt")
    assert [e["tool"] for e in events if e["event"] == "tool"] == ["edit", "git_commit"]
    assert (meter.tokens_in, meter.tokens_out, meter.cost) == (4200, 215, 0.02)


def test_gemini_and_opencode_streams_are_normalized() -> None:
    gemini = get("gemini").parser()
    lines = [
        '{"type":"init","session_id":"g-1","model":"gemini-2.5-pro"}',
        '{"type":"message","role":"assistant","content":"Working on it","delta":true}',
        '{"type":"tool_use","tool_name":"write_file","tool_id":"t1","parameters":{"path":"a"}}',
        '{"type":"result","status":"success","stats":{"input_tokens":900,"output_tokens":80}}',
    ]
    meter = Meter()
    for line in lines:
        for e in gemini.feed(line):
            meter.take(e)
    assert (meter.session_id, meter.tokens, meter.tools) == ("g-1", 980, 1)
    opencode = get("opencode").parser()
    lines = [
        '{"type":"step_start","sessionID":"ses_1","part":{"type":"step-start"}}',
        '{"type":"tool_use","sessionID":"ses_1","part":{"tool":"bash","state":{"input":{}}}}',
        '{"type":"step_finish","sessionID":"ses_1","part":{"reason":"tool-calls",'
        '"tokens":{"input":100,"output":20,"reasoning":5},"cost":0.01}}',
        '{"type":"step_finish","sessionID":"ses_1","part":{"reason":"stop",'
        '"tokens":{"input":50,"output":10,"reasoning":0},"cost":0.005}}',
        '{"type":"error","sessionID":"ses_1","error":{"name":"APIError",'
        '"data":{"message":"Rate limit exceeded, try again in 30 minutes"}}}',
    ]
    meter = Meter()
    for line in lines:
        for e in opencode.feed(line):
            meter.take(e)
    assert (meter.session_id, meter.tokens, round(meter.cost, 3)) == ("ses_1", 185, 0.015)
    assert meter.limit is not None and meter.limit["reset_at"] is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Claude AI usage limit reached|1795300200", "2026-11-21T22:30:00Z"),
        ("You've hit your usage limit. Try again in 2 hours 30 minutes.", "2026-11-21T11:30:00Z"),
        (
            '{"error":{"type":"usage_limit_reached","resets_in_seconds":600}}',
            "2026-11-21T09:10:00Z",
        ),
        ("5-hour limit reached ∙ resets 3pm (Europe/Berlin)", "2026-11-21T14:00:00Z"),
        ("Quota exceeded for quota metric 'Requests' (RESOURCE_EXHAUSTED)", None),
    ],
)
def test_usage_limit_reset_times(text: str, expected: str | None) -> None:
    (event,) = signals(text, NOW)
    assert event["event"] == "limit"
    assert event["reset_at"] == expected


def test_context_exhaustion_and_plain_text() -> None:
    assert (
        signals("Error: prompt is too long: 210000 tokens > 200000 maximum", NOW)[0]["event"]
        == "context"
    )
    assert signals("Refactored the rate limiter module", NOW) == []
    assert reset_time("no time here", NOW) is None


def inv(**kw: Any) -> Invocation:
    return Invocation(task_id="t-abc123", title="T", prompt="do it", root="/r", cwd="/w", **kw)


def test_headless_flags_and_resume() -> None:
    claude = get("claude").argv(inv(model="opus", session_id="s-1"))
    assert claude[:3] == ["claude", "-p", "do it"]
    assert "stream-json" in claude and "--verbose" in claude
    assert "--model=opus" in claude and "--resume=s-1" in claude
    codex = get("codex").argv(inv(session_id="th-1"))
    assert codex[:3] == ["codex", "exec", "--json"] and codex[-3:] == ["resume", "th-1", "do it"]
    aider = get("aider").argv(inv(spec={"program": "/opt/aider", "args": ["--no-git"]}))
    assert aider[0] == "/opt/aider" and "--yes-always" in aider and aider[-1] == "--no-git"
    assert get("gemini").argv(inv())[:5] == [
        "gemini",
        "-p",
        "do it",
        "--output-format",
        "stream-json",
    ]
    assert get("opencode").argv(inv(model="a/b"))[:4] == ["opencode", "run", "--format", "json"]


def test_command_template_and_its_errors() -> None:
    spec = {"command": ["my-agent", "--task", "{task_id}", "--in", "{worktree}"]}
    assert get("command").argv(inv(spec=spec)) == ["my-agent", "--task", "t-abc123", "--in", "/w"]
    with pytest.raises(ConfigError, match="bad placeholder"):
        get("command").argv(inv(spec={"command": "x {nope}"}))


def test_coder_and_model_resolve_task_agent_project_default() -> None:
    config = {"defaults": {"coder": "demo", "model": "m-default"}, "coders": {}}
    assert coders.resolve({}, None, None, config) == ("demo", "m-default")
    assert coders.resolve({}, None, {"coder": "aider"}, config) == ("aider", "m-default")
    agent = {"coder": "codex", "model": "gpt-5"}
    assert coders.resolve({}, agent, {"coder": "aider", "model": "x"}, config) == ("codex", "gpt-5")
    assert coders.resolve({"coder": "claude", "model": "opus"}, agent, None, config) == (
        "claude",
        "opus",
    )
    # A custom name on a built-in adapter, with its own model.
    config["coders"] = {"claude-fast": {"adapter": "claude", "model": "haiku"}}
    assert coders.resolve({"coder": "claude-fast"}, None, None, config) == ("claude-fast", "haiku")
    assert coders.known("claude-fast", config) and not coders.known("nope", config)
