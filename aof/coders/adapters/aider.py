"""Aider: ``aider --message PROMPT --yes-always``.

Aider prints plain text. Recognized lines: the ``Main model:`` banner (session start),
``Tokens: 4.2k sent, 215 received. Cost: $0.01
message, $0.03 session.`` (usage; the session cost is a running total), ``Applied edit to
PATH`` and ``Commit abc1234 MESSAGE`` (tools), and litellm's rate-limit and context-window
errors. Aider commits its edits in the worktree itself. A follow-up restores the chat
history aider keeps in the worktree (``--restore-chat-history``).
"""

from __future__ import annotations

import re
from typing import Any

from .base import Adapter, Invocation, Parser, usage

_TOKENS = re.compile(
    r"Tokens:\s*([\d.,]+)([kKmM]?)\s*sent,\s*([\d.,]+)([kKmM]?)\s*received"
    r"(?:.*?Cost:\s*\$([\d.]+)\s*message,\s*\$([\d.]+)\s*session)?"
)
_MODEL = re.compile(r"^Main model: (\S+)")
_EDIT = re.compile(r"^Applied edit to (.+)$")
_COMMIT = re.compile(r"^Commit ([0-9a-f]{7,40}) (.+)$")


def _amount(number: str, suffix: str) -> int:
    value = float(number.replace(",", ""))
    return int(value * {"k": 1e3, "m": 1e6}.get(suffix.lower(), 1))


class AiderParser(Parser):
    def feed(self, line: str) -> list[dict[str, Any]]:
        text = line.strip()
        m = _TOKENS.search(text)
        if m:
            out = [usage(_amount(m.group(1), m.group(2)), _amount(m.group(3), m.group(4)))]
            if m.group(6):
                out.append(usage(cost=float(m.group(6)), cumulative=True))
            return out
        m = _MODEL.match(text)
        if m:  # aider's banner: the session starts (its history is the session)
            return [{"event": "session_start", "session_id": "chat-history", "model": m.group(1)}]
        m = _EDIT.match(text)
        if m:
            return [{"event": "tool", "tool": "edit", "input": m.group(1)}]
        m = _COMMIT.match(text)
        if m:
            return [{"event": "tool", "tool": "git_commit", "input": f"{m.group(1)} {m.group(2)}"}]
        return self.text_line(line)


class Aider(Adapter):
    name = "aider"
    provider_env = (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
        "DEEPSEEK_API_KEY",
    )
    program = "aider"
    resumes = True
    description = "Aider (aider --message, plain text)"

    def argv(self, inv: Invocation) -> list[str]:
        restore = ["--restore-chat-history"] if inv.session_id else []
        common = [*self.model_args(inv), *restore, "--no-check-update", *self.extra(inv)]
        if inv.interactive:
            return [self.executable(inv), *common]
        return [
            self.executable(inv),
            "--message",
            inv.prompt,
            "--yes-always",
            "--no-pretty",
            "--no-stream",
            *common,
        ]

    def parser(self) -> Parser:
        return AiderParser()
