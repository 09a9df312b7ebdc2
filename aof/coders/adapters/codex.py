"""OpenAI Codex CLI: ``codex exec --json PROMPT``.

Stream events: ``thread.started`` (thread id), ``turn.started``, ``item.started|updated|
completed`` (items: ``agent_message``, ``reasoning``, ``command_execution``, ``file_change``,
``mcp_tool_call``, ``web_search``, ``todo_list``), ``turn.completed`` (``usage``: input
tokens, the cached part of them, output tokens and, where reported, reasoning tokens; no
cost: aof prices them from its table), ``turn.failed`` and ``error`` (a usage limit reads "You've
hit your usage limit ... try again in 2 hours"). Follow-ups: ``codex exec resume THREAD``.

No ``context_use``: ``exec --json`` reports neither the context in use nor the window (the
``token_count`` events that carry ``model_context_window`` and ``last_token_usage`` go to
the session log under ``~/.codex/sessions/`` only), and ``turn.completed``'s usage is the
sum over every model call of the turn, not one prompt's size.
"""

from __future__ import annotations

from typing import Any

from .base import TEXT_MAX, Adapter, Invocation, JsonLinesParser, Parser, short, signals, usage

TOOL_ITEMS = {
    "command_execution": ("shell", "command"),
    "file_change": ("edit", "changes"),
    "mcp_tool_call": ("mcp", "tool"),
    "web_search": ("web_search", "query"),
}


class CodexParser(JsonLinesParser):
    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        if kind in ("thread.started", "thread.resumed"):
            return [{"event": "session_start", "session_id": data.get("thread_id")}]
        if kind == "item.completed":
            item = data.get("item") or {}
            itype = item.get("type") or item.get("item_type")
            if itype == "agent_message":
                return [{"event": "text", "text": str(item.get("text") or "")[:TEXT_MAX]}]
            if itype in TOOL_ITEMS:
                tool, key = TOOL_ITEMS[itype]
                return [{"event": "tool", "tool": tool, "input": short(item.get(key))}]
            if itype == "error":
                msg = str(item.get("message") or "")
                return [*signals(msg, self.now()), {"event": "error", "message": short(msg)}]
            return []
        if kind == "turn.completed":
            u = data.get("usage") or {}
            cached = _int(u.get("cached_input_tokens"))
            return [
                usage(
                    max(_int(u.get("input_tokens")) - cached, 0),  # input counts the cached
                    u.get("output_tokens"),
                    cached_in=cached,
                    reasoning=u.get("reasoning_output_tokens"),
                ),
                {"event": "session_end", "ok": True, "result": ""},
            ]
        if kind in ("turn.failed", "error"):
            err = data.get("error")
            msg = str((err or {}).get("message") if isinstance(err, dict) else data.get("message"))
            out = [*signals(msg, self.now()), {"event": "error", "message": short(msg)}]
            if kind == "turn.failed":
                out.append({"event": "session_end", "ok": False, "result": short(msg)})
            return out
        return []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Codex(Adapter):
    name = "codex"
    provider_env = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME")
    program = "codex"
    resumes = True
    description = "OpenAI Codex CLI (codex exec --json)"

    def argv(self, inv: Invocation) -> list[str]:
        if inv.interactive:
            return [self.executable(inv), *self.model_args(inv), *self.extra(inv), inv.prompt]
        head = [
            self.executable(inv),
            "exec",
            "--json",
            "--full-auto",  # workspace-write sandbox, no approval prompts
            "--skip-git-repo-check",
            *self.model_args(inv),
            *self.extra(inv),
        ]
        if inv.session_id:
            return [*head, "resume", inv.session_id, inv.prompt]
        return [*head, inv.prompt]

    def parser(self) -> Parser:
        return CodexParser()
