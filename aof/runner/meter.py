"""What a run's supervisor records as the coder works: the normalized event log
(``events.jsonl``, one JSON object a line) and the meter of what the run used and said so
far (tokens, cost, conversation id, model, usage limit, context use and exhaustion).

Standard library only: the supervisor imports this before the coder has started.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_stamp() -> str:
    """Now, in UTC, to the hundredth of a second (the time of an event line)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class EventLog:
    """``events.jsonl``: one event a line, stamped with its time and the run (``base``)."""

    def __init__(self, path: Path, base: dict[str, Any]) -> None:
        self.path = path
        self.base = base
        self.lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(
            {"ts": utc_stamp(), **event, **self.base}, ensure_ascii=False, default=str
        )
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Meter:
    """What a run has used and said so far, from its normalized events."""

    def __init__(self) -> None:
        self.tokens_in = self.tokens_out = 0
        self.cost = 0.0
        self.session_id: str | None = None
        self.model: str | None = None
        self.last_output = time.monotonic()
        self.limit: dict[str, Any] | None = None
        self.context: str | None = None
        self.context_used = self.context_window = 0  # the last ``context_use`` event's
        self.context_pct: float | None = None  # of the window in use now (None: not reported)
        self.context_peak_pct: float | None = None
        self.events = 0
        self.tools = 0
        self.models: dict[str, dict[str, Any]] = {}  # model -> its tokens by kind
        self.reported = False  # the coder reported what the run cost

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def take(self, event: dict[str, Any]) -> None:
        self.events += 1
        kind = event.get("event")
        if kind == "usage":
            tin, tout = int(event.get("tokens_in") or 0), int(event.get("tokens_out") or 0)
            cost = event.get("cost_usd")
            self._take_models(event)
            if event.get("cumulative"):
                if tin + tout >= self.tokens:
                    self.tokens_in, self.tokens_out = tin, tout
                if cost is not None:
                    self.cost = max(self.cost, float(cost))
            else:
                self.tokens_in += tin
                self.tokens_out += tout
                self.cost += float(cost or 0)
        elif kind == "session_start":
            self.session_id = event.get("session_id") or self.session_id
            self.model = event.get("model") or self.model
        elif kind == "session_end":
            self.session_id = event.get("session_id") or self.session_id
        elif kind == "limit":
            self.limit = event
        elif kind == "context":
            self.context = str(event.get("message") or "context window exhausted")
        elif kind == "context_use":
            self._context_use(event)
        elif kind == "tool":
            self.tools += 1

    def _context_use(self, event: dict[str, Any]) -> None:
        used, window = int(event.get("used") or 0), int(event.get("window") or 0)
        if used <= 0 or window <= 0:
            return
        self.context_used, self.context_window = used, window
        self.context_pct = round(100 * used / window, 1)
        self.context_peak_pct = max(self.context_peak_pct or 0.0, self.context_pct)

    def context_over(self, stop: Any) -> str | None:
        """Why to end the run, when its context use reached ``stop`` percent (None: never)."""
        if stop is None or self.context_pct is None or self.context_pct < float(stop):
            return None
        return (
            f"its context use reached {self.context_pct:g}% of the window ({self.context_used:,}"
            f" of {self.context_window:,} tokens; runner.context_stop_pct {float(stop):g})"
        )

    def _take_models(self, event: dict[str, Any]) -> None:
        """Keep the usage of each model: a step's adds up, a cumulative figure (totals so far,
        per model when the coder gives them) replaces what was added when it is no smaller."""
        self.reported = self.reported or event.get("cost_usd") is not None
        models = event.get("models")
        if not isinstance(models, dict):
            name = str(event.get("model") or self.model or "")
            models = {
                name: {
                    "input": event.get("tokens_in"),
                    "cached_input": event.get("cached_in"),
                    "cache_write": event.get("cache_write"),
                    "output": event.get("tokens_out"),
                    "reasoning": event.get("reasoning"),
                }
            }
        clean = {m: {k: int(u.get(k) or 0) for k in KINDS} for m, u in models.items()}
        if event.get("cumulative"):
            if _sum(clean) and _sum(clean) >= _sum(self.models):
                self.models = clean
            return
        for model, usage in clean.items():
            mine = self.models.setdefault(model, dict.fromkeys(KINDS, 0))
            for k, n in usage.items():
                mine[k] += n

    def usage(self) -> dict[str, Any]:
        """What the run used, for its ledger row: ``model`` (the one with the most tokens,
        else the one the coder named), ``models`` (model -> tokens by kind; an unnamed
        model is the run's), ``cost_usd`` when the coder reported it (else None)."""
        models = {(m or self.model or ""): u for m, u in self.models.items() if any(u.values())}
        main = max(models, key=lambda m: sum(models[m].values()), default=self.model or "")
        return {
            "model": main or self.model,
            "models": models,
            "cost_usd": self.cost if self.reported else None,
        }


KINDS = ("input", "cached_input", "cache_write", "output", "reasoning")


def _sum(models: dict[str, dict[str, int]]) -> int:
    return sum(sum(u.values()) for u in models.values())
