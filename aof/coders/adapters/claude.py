"""Claude Code: ``claude -p PROMPT --output-format stream-json --verbose``.

Stream events (one JSON object per line): ``system``/``init`` (session id, model),
``assistant`` messages (text and ``tool_use`` blocks, with the message's token usage),
``user`` tool results, and a final ``result`` (``total_cost_usd``, total ``usage``,
``modelUsage`` per model, sub-agents' models included, ``is_error``; a usage limit arrives
here as "Claude AI usage limit reached|<epoch>" or "... limit reached · resets 3pm").
Follow-ups resume with ``--resume SESSION``.

Context in use: each assistant message of the main conversation (not a sub-agent's: those
carry ``parent_tool_use_id``) reports the prompt it was sent as ``input_tokens`` +
``cache_read_input_tokens`` + ``cache_creation_input_tokens``; the window is the final
result's ``modelUsage[model].contextWindow`` (or ``context_window`` in ``init`` when given),
until then the model family's (:func:`claude_window`).
"""

from __future__ import annotations

from typing import Any

from .base import (
    TEXT_MAX,
    Adapter,
    Invocation,
    JsonLinesParser,
    Parser,
    context_use,
    short,
    signals,
    usage,
)


def claude_window(model: str | None) -> int:
    """The context window of a Claude model when the stream has not said: 1,000,000 tokens
    for a long-context variant (``...[1m]``), else 200,000."""
    name = (model or "").lower()
    return 1_000_000 if name.endswith(("[1m]", "-1m")) else 200_000


class ClaudeParser(JsonLinesParser):
    def __init__(self) -> None:
        self.seen: set[str] = set()  # stream-json repeats a message's usage per content block
        self.model: str | None = None
        self.window = 0  # as the stream reported it (0: not yet)
        self.used = 0  # the context in use at the last assistant message

    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        out: list[dict[str, Any]] = []
        if kind == "system" and data.get("subtype") == "init":
            self.model = data.get("model") or self.model
            self.window = _positive(data.get("context_window")) or self.window
            out.append(
                {
                    "event": "session_start",
                    "session_id": data.get("session_id"),
                    "model": data.get("model"),
                }
            )
        elif kind == "assistant":
            message = data.get("message") or {}
            for block in message.get("content") or []:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text" and block.get("text"):
                    out.extend(signals(block["text"], self.now()) if _short(block) else [])
                    out.append({"event": "text", "text": str(block["text"])[:TEXT_MAX]})
                elif block.get("type") == "tool_use":
                    out.append(
                        {
                            "event": "tool",
                            "tool": block.get("name"),
                            "input": short(block.get("input")),
                        }
                    )
            mid = str(message.get("id") or "")
            u = message.get("usage") or {}
            if u and mid not in self.seen:
                self.seen.add(mid)
                out.append(
                    usage(
                        u.get("input_tokens"),
                        u.get("output_tokens"),
                        cached_in=u.get("cache_read_input_tokens"),
                        cache_write=u.get("cache_creation_input_tokens"),
                        model=message.get("model"),
                    )
                )
                if not data.get("parent_tool_use_id"):  # a sub-agent has a context of its own
                    out.extend(self._context(u, message.get("model")))
        elif kind == "result":
            out.extend(self._final_window(data.get("modelUsage")))
            u = data.get("usage") or {}
            out.append(
                usage(
                    u.get("input_tokens"),
                    u.get("output_tokens"),
                    data.get("total_cost_usd"),
                    cumulative=True,
                    cached_in=u.get("cache_read_input_tokens"),
                    cache_write=u.get("cache_creation_input_tokens"),
                    models=_model_usage(data.get("modelUsage")),
                )
            )
            text = str(data.get("result") or "")
            if data.get("is_error") or data.get("subtype") != "success":
                out.extend(signals(text or str(data.get("subtype")), self.now()))
            out.append(
                {
                    "event": "session_end",
                    "ok": not data.get("is_error") and data.get("subtype") == "success",
                    "result": short(text),
                    "session_id": data.get("session_id"),
                }
            )
        return out

    def _context(self, u: dict[str, Any], model: Any) -> list[dict[str, Any]]:
        keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        self.used = sum(_positive(u.get(k)) for k in keys)
        # init names the variant (``...[1m]``); a message, the API model without it
        window = self.window or claude_window(str(self.model or model or ""))
        return context_use(self.used, window)

    def _final_window(self, model_usage: Any) -> list[dict[str, Any]]:
        """The last context in use against the window the result reports for the model."""
        if not isinstance(model_usage, dict) or not self.used:
            return []
        rows = [v for v in model_usage.values() if isinstance(v, dict)]
        main = model_usage.get(self.model) if self.model else None
        pick = [main] if isinstance(main, dict) else rows
        windows = [_positive(r.get("contextWindow")) for r in pick]
        window = max(windows, default=0)
        if not window:
            return []
        self.window = window
        return context_use(self.used, window)


def _positive(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _model_usage(value: Any) -> dict[str, dict[str, Any]] | None:
    """The result's ``modelUsage`` (every model the run used, sub-agents' too) in aof's
    kinds of token, with each model's ``costUSD``."""
    if not isinstance(value, dict):
        return None
    out: dict[str, dict[str, Any]] = {}
    for model, u in value.items():
        if not isinstance(u, dict):
            continue
        out[str(model)] = {
            "input": u.get("inputTokens") or 0,
            "cached_input": u.get("cacheReadInputTokens") or 0,
            "cache_write": u.get("cacheCreationInputTokens") or 0,
            "output": u.get("outputTokens") or 0,
            **({"cost_usd": u["costUSD"]} if isinstance(u.get("costUSD"), int | float) else {}),
        }
    return out or None


def _short(block: dict[str, Any]) -> bool:
    # A limit notice is a short message; a long answer that mentions rate limits is not one.
    return len(str(block.get("text"))) < 300


# What a headless run may do without asking: report with aof (confined to its own task by
# its agent environment) and the git subcommands of committing its work. Never a bare
# `git` (`git -c alias.x='!cmd' x` is a shell) nor `git config`.
GIT_SUBCOMMANDS = ("add", "commit", "status", "diff", "log", "show", "rev-parse", "branch")
ALLOWED_TOOLS = ("Bash(aof:*)", *(f"Bash(git {sub}:*)" for sub in GIT_SUBCOMMANDS))


class Claude(Adapter):
    name = "claude"
    provider_env = (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_OAUTH_TOKEN",
    )
    program = "claude"
    resumes = True
    description = "Anthropic Claude Code (claude -p, stream-json)"

    def argv(self, inv: Invocation) -> list[str]:
        resume = [f"--resume={inv.session_id}"] if inv.session_id else []
        if inv.interactive:
            return [
                self.executable(inv),
                *self.model_args(inv),
                *resume,
                *self.extra(inv),
                inv.prompt,
            ]
        return [
            self.executable(inv),
            "-p",
            inv.prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            *self.model_args(inv),
            *resume,
            # Edits in its own worktree, and the aof and git commands it reports with; widen
            # (or narrow) with coders.claude.args in aof.yaml.
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            *ALLOWED_TOOLS,
            *self.extra(inv),
        ]

    def parser(self) -> Parser:
        return ClaudeParser()
