"""The demo coder's adapter: ``python -m aof.coders.demo_coder`` (see :mod:`aof.coders.demo_coder`).

It prints JSON lines of its own (``{"demo": EVENT, ...}``), normalized here like any coder's.
"""

from __future__ import annotations

import sys
from typing import Any

from .base import Adapter, Invocation, JsonLinesParser, Parser, short, signals


class DemoParser(JsonLinesParser):
    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("demo")
        if kind == "start":
            return [{"event": "session_start", "session_id": data.get("session"), "model": "demo"}]
        if kind in ("usage", "text", "tool", "context_use"):
            return [{"event": kind, **{k: v for k, v in data.items() if k != "demo"}}]
        if kind == "error":
            msg = str(data.get("message") or "")
            return [*signals(msg, self.now()), {"event": "error", "message": short(msg)}]
        if kind == "end":
            return [
                {"event": "session_end", "ok": data.get("ok", True), "result": data.get("outcome")}
            ]
        return []


class Demo(Adapter):
    name = "demo"
    provider_env = ("PYTHONPATH", "AOF_DEMO_SECONDS")  # it runs aof's own Python
    resumes = True
    description = "the built-in demo coder (deterministic, no model)"

    def executable(self, inv: Invocation) -> str:
        return str(inv.spec.get("program") or sys.executable)

    def argv(self, inv: Invocation) -> list[str]:
        resume = ["--resume", inv.session_id] if inv.session_id else []
        return [self.executable(inv), "-m", "aof.coders.demo_coder", *resume, *self.extra(inv)]

    def parser(self) -> Parser:
        return DemoParser()
