"""Gemini CLI: ``gemini -p PROMPT --output-format stream-json``.

Stream events: ``init`` (session id, model), ``message`` (user and assistant chunks),
``tool_use`` (tool name and parameters), ``tool_result``, ``error`` and a final ``result``
(``status`` and ``stats`` with input, cached, output and total tokens, per model under
``models`` where the CLI gives them). Quota errors read "Quota exceeded" /
``RESOURCE_EXHAUSTED``. Follow-ups: ``--resume SESSION``.

With ``--output-format json`` (``coders.gemini.args``) the CLI prints one JSON document
instead, over many lines: ``response``, and ``stats.models.<model>.tokens`` (``prompt``,
``candidates``, ``cached``, ``thoughts``); it is read whole and gives the same events. No
cost is reported: aof prices the tokens from its table.

No ``context_use``: the stream reports token totals at the end only, and no window.
"""

from __future__ import annotations

import json
from typing import Any

from .base import TEXT_MAX, Adapter, Invocation, JsonLinesParser, Parser, short, signals, usage

DOCUMENT_MAX = 4_000_000  # characters of a --output-format json document kept to parse


class GeminiParser(JsonLinesParser):
    def __init__(self) -> None:
        self.document: list[str] | None = None  # lines of a --output-format json document
        self.size = 0

    def feed(self, line: str) -> list[dict[str, Any]]:
        if self.document is None and line.rstrip() == "{":
            self.document, self.size = [], 0
        if self.document is None:
            return super().feed(line)
        self.document.append(line)
        self.size += len(line)
        if line.rstrip() != "}" and self.size < DOCUMENT_MAX:
            return []
        text, self.document = "".join(self.document), None
        try:
            data = json.loads(text)
        except ValueError:
            return [e for part in text.splitlines() for e in self.text_line(part)]
        return self.whole(data) if isinstance(data, dict) else []

    def whole(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The events of a ``--output-format json`` document."""
        models = _json_models(data.get("stats") or {})
        out: list[dict[str, Any]] = []
        if data.get("session_id"):
            out.append({"event": "session_start", "session_id": data["session_id"]})
        if data.get("response"):
            out.append({"event": "text", "text": str(data["response"])[:TEXT_MAX]})
        t = {k: sum(int(m.get(k) or 0) for m in models.values()) for k in _KINDS}
        out.append(
            usage(
                t["input"],
                t["output"],
                cumulative=True,
                cached_in=t["cached_input"],
                reasoning=t["reasoning"],
                model=next(iter(models), None) if len(models) == 1 else None,
                models=models or None,
            )
        )
        return [*out, *self.result({**data, "type": "result", "stats": {}}, usage_event=False)]

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
            return self.result(data)
        return []

    def result(self, data: dict[str, Any], *, usage_event: bool = True) -> list[dict[str, Any]]:
        stats = data.get("stats") or {}
        err = data.get("error")
        msg = str((err or {}).get("message", err) if isinstance(err, dict) else (err or ""))
        ok = data.get("status", "success") == "success" and not err
        cached = int(stats.get("cached") or 0)
        spent = usage(
            max(int(stats.get("input_tokens") or 0) - cached, 0),  # the prompt counts the cached
            stats.get("output_tokens"),
            cumulative=True,
            cached_in=cached,
            models=_stream_models(stats.get("models")),
        )
        return [
            *([spent] if usage_event else []),
            *(signals(msg, self.now()) if msg else []),
            {"event": "session_end", "ok": ok, "result": short(msg)},
        ]


_KINDS = ("input", "cached_input", "output", "reasoning")


def _stream_models(value: Any) -> dict[str, dict[str, Any]] | None:
    """A stream-json result's per-model stats (``input_tokens`` counts the ``cached``)."""
    if not isinstance(value, dict):
        return None
    out = {}
    for model, s in value.items():
        if isinstance(s, dict):
            cached = int(s.get("cached") or 0)
            out[str(model)] = {
                "input": max(int(s.get("input_tokens") or 0) - cached, 0),
                "cached_input": cached,
                "output": int(s.get("output_tokens") or 0),
            }
    return out or None


def _json_models(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``stats.models.<model>.tokens`` of a json document (``prompt`` counts the ``cached``;
    ``thoughts`` are billed as output)."""
    out = {}
    for model, s in (stats.get("models") or {}).items():
        tokens = (s or {}).get("tokens") if isinstance(s, dict) else None
        if isinstance(tokens, dict):
            cached = int(tokens.get("cached") or 0)
            out[str(model)] = {
                "input": max(int(tokens.get("prompt") or 0) - cached, 0),
                "cached_input": cached,
                "output": int(tokens.get("candidates") or 0),
                "reasoning": int(tokens.get("thoughts") or 0),
            }
    return out


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
