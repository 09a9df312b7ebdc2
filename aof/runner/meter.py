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

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def take(self, event: dict[str, Any]) -> None:
        self.events += 1
        kind = event.get("event")
        if kind == "usage":
            tin, tout = int(event.get("tokens_in") or 0), int(event.get("tokens_out") or 0)
            cost = event.get("cost_usd")
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
