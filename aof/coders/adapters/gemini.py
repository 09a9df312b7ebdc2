"""Gemini CLI: ``gemini -p PROMPT --output-format stream-json``.

Stream events: ``init`` (session id, model), ``message`` (user and assistant chunks),
``tool_use`` (tool name and parameters), ``tool_result``, ``error`` and a final ``result``
(``status`` and ``stats`` with input, output and total tokens). Quota errors read
"Quota exceeded" / ``RESOURCE_EXHAUSTED``. Follow-ups: ``--resume SESSION``.

No ``context_use``: the stream reports token totals at the end only, and no window.
"""

from __future__ import annotations

from typing import Any

from .base import TEXT_MAX, Adapter, Invocation, JsonLinesParser, Parser, short, signals, usage


class GeminiParser(JsonLinesParser):
    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        if kind == "init":
            return [
                {
                    "event": "session_start",
                    "session_id": data.get("session_id") or data.get("sessionId"),
                    "model": data.get("model"),
                }
            ]
        if kind == "message" and data.get("role") == "assistant" and data.get("content"):
            return [{"event": "text", "text": str(data["content"])[:TEXT_MAX]}]
        if kind == "tool_use":
            return [
                {
                    "event": "tool",
                    "tool": data.get("tool_name"),
                    "input": short(data.get("parameters")),
                }
            ]
        if kind == "error":
            msg = str(data.get("message") or data.get("error") or "")
            return [*signals(msg, self.now()), {"event": "error", "message": short(msg)}]
        if kind == "result":
            stats = data.get("stats") or {}
            err = data.get("error")
            msg = str((err or {}).get("message", err) if isinstance(err, dict) else (err or ""))
            ok = data.get("status", "success") == "success" and not err
            return [
                usage(stats.get("input_tokens"), stats.get("output_tokens"), cumulative=True),
                *(signals(msg, self.now()) if msg else []),
                {"event": "session_end", "ok": ok, "result": short(msg)},
            ]
        return []


class Gemini(Adapter):
    name = "gemini"
    provider_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT")
    program = "gemini"
    resumes = True
    description = "Google Gemini CLI (gemini -p, stream-json)"

    def argv(self, inv: Invocation) -> list[str]:
        resume = [f"--resume={inv.session_id}"] if inv.session_id else []
        if inv.interactive:
            return [self.executable(inv), *self.model_args(inv), *resume, "-i", inv.prompt]
        return [
            self.executable(inv),
            "-p",
            inv.prompt,
            "--output-format",
            "stream-json",
            "--approval-mode",
            "auto_edit",
            *self.model_args(inv),
            *resume,
            *self.extra(inv),
        ]

    def parser(self) -> Parser:
        return GeminiParser()
