"""opencode: ``opencode run --format json PROMPT``.

Stream events, each with ``sessionID`` and a ``part``: ``step_start``, ``text``
(``part.text``), ``tool_use`` (``part.tool``, ``part.state.input``), ``step_finish``
(``part.tokens``: input, output, reasoning, cache; ``part.cost`` in USD) and ``error``.
Follow-ups: ``--session SESSION``.
"""

from __future__ import annotations

from typing import Any

from .base import TEXT_MAX, Adapter, Invocation, JsonLinesParser, Parser, short, signals, usage


class OpencodeParser(JsonLinesParser):
    def __init__(self) -> None:
        self.session: str | None = None

    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        part = data.get("part") or {}
        out: list[dict[str, Any]] = []
        sid = data.get("sessionID") or part.get("sessionID")
        if sid and sid != self.session:
            self.session = sid
            out.append({"event": "session_start", "session_id": sid})
        if kind == "text" and part.get("text"):
            out.append({"event": "text", "text": str(part["text"])[:TEXT_MAX]})
        elif kind == "tool_use":
            state = part.get("state") or {}
            out.append(
                {"event": "tool", "tool": part.get("tool"), "input": short(state.get("input"))}
            )
        elif kind == "step_finish":
            tokens = part.get("tokens") or {}
            cache: dict[str, Any] = tokens.get("cache") or {}
            out.append(
                usage(
                    tokens.get("input"),
                    int(tokens.get("output") or 0) + int(tokens.get("reasoning") or 0),
                    part.get("cost"),
                    cached_in=cache.get("read"),
                    cache_write=cache.get("write"),
                )
            )
            if part.get("reason") == "stop":
                out.append({"event": "session_end", "ok": True, "result": ""})
        elif kind == "error":
            err = data.get("error") or part.get("error") or {}
            msg = str(
                ((err.get("data") or {}).get("message") or err.get("message") or err.get("name"))
                if isinstance(err, dict)
                else err
            )
            out.extend([*signals(msg, self.now()), {"event": "error", "message": short(msg)}])
        return out


class Opencode(Adapter):
    name = "opencode"
    provider_env = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY")
    program = "opencode"
    resumes = True
    description = "opencode (opencode run --format json)"

    def argv(self, inv: Invocation) -> list[str]:
        session = [f"--session={inv.session_id}"] if inv.session_id else []
        if inv.interactive:
            return [self.executable(inv), *self.model_args(inv), *session, "--prompt", inv.prompt]
        return [
            self.executable(inv),
            "run",
            "--format",
            "json",
            *self.model_args(inv),
            *session,
            *self.extra(inv),
            inv.prompt,
        ]

    def parser(self) -> Parser:
        return OpencodeParser()
