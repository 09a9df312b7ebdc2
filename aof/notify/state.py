"""What the delivery worker keeps between passes and across restarts.

``.aof/notify/state.json`` (replaced whole, atomically, after every change): the outbox
cursor, the events not yet settled with each channel's status (queued, retrying at a time,
held for a digest), the fingerprints of recently settled events (so a line read twice is
never sent twice) and the counts per channel and result. ``.aof/notify/deliveries.jsonl``
gets one line per delivery attempt. Only the daemon's worker writes either (one daemon per
root); ``aof notify list`` reads them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import layout
from ..files.atomic import write_json
from .outbox import Cursor

VERSION = 1
DONE_KEEP = 10_000  # settled fingerprints remembered (far more than an outbox segment holds)
LOG_ROTATE_BYTES = 4 << 20


class State:
    """The worker's persisted state (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cursor = Cursor(0, 0)
        self.pending: dict[str, dict[str, Any]] = {}
        self.done: list[str] = []
        self._done_set: set[str] = set()
        self.counts: dict[str, dict[str, int]] = {}

    @classmethod
    def load(cls, root: Path) -> State:
        """The state on disk; a missing or unreadable file is a fresh start."""
        state = cls(root)
        try:
            data = json.loads(layout.notify_state(root).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return state
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return state
        cur = data.get("cursor") or {}
        state.cursor = Cursor(int(cur.get("inode") or 0), int(cur.get("offset") or 0))
        state.pending = dict(data.get("pending") or {})
        state.done = [str(f) for f in data.get("done") or []][-DONE_KEEP:]
        state._done_set = set(state.done)
        state.counts = dict(data.get("counts") or {})
        return state

    def save(self) -> None:
        layout.notify_dir(self.root).mkdir(parents=True, exist_ok=True)
        data = {
            "version": VERSION,
            "cursor": {"inode": self.cursor.inode, "offset": self.cursor.offset},
            "pending": self.pending,
            "done": self.done,
            "counts": self.counts,
        }
        write_json(layout.notify_state(self.root), data, compact=True, private=True, durable=True)

    def seen(self, fp: str) -> bool:
        return fp in self._done_set or fp in self.pending

    def settle(self, fp: str) -> None:
        """``fp`` is finished with (every channel delivered or given up)."""
        self.pending.pop(fp, None)
        if fp not in self._done_set:
            self.done.append(fp)
            self._done_set.add(fp)
            if len(self.done) > DONE_KEEP:
                for old in self.done[: len(self.done) - DONE_KEEP]:
                    self._done_set.discard(old)
                self.done = self.done[-DONE_KEEP:]

    def count(self, channel: str, result: str) -> None:
        per = self.counts.setdefault(channel, {})
        per[result] = per.get(result, 0) + 1

    def log(self, line: dict[str, Any]) -> None:
        """Append one delivery attempt to ``deliveries.jsonl`` (set aside past 4 MiB)."""
        path = layout.notify_deliveries(self.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, data)
            big = os.fstat(fd).st_size > LOG_ROTATE_BYTES
        finally:
            os.close(fd)
        if big:
            os.replace(path, layout.notify_deliveries(self.root, 1))


__all__ = ["State"]
