"""Host heartbeats: ``.aof/hosts/<slug>.json``, the latest a host's ``aof worker`` sent.

Each holds the host's worker names, its slots and slots in use, the worker's version and
when the coordinator received it (``at``, the coordinator's clock: a host's own clock is
never trusted for down detection), plus ``down_since`` once the daemon found it silent for
``hosts.down_after_s`` (cleared by its next heartbeat).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import layout
from ..clock import format_time, parse_time
from ..files.atomic import write_json
from ..files.locks import Lock

FIELDS = ("workers", "slots", "slots_used", "version")


def _path(root: Path, slug: str) -> Path:
    return layout.host_beats(root) / f"{slug}.json"


def _lock(root: Path) -> Lock:
    return Lock(layout.lock(root, "host-beats.lock"))


def read(root: Path, slug: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_path(root, slug).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_all(root: Path) -> dict[str, dict[str, Any]]:
    """Slug -> its latest heartbeat, for every host that ever sent one."""
    try:
        names = sorted(os.listdir(layout.host_beats(root)))
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        if name.endswith(".json"):
            beat = read(root, name[: -len(".json")])
            if beat is not None:
                out[name[: -len(".json")]] = beat
    return out


def record(root: Path, slug: str, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Keep a heartbeat of ``slug``'s workers, received at ``now``."""
    workers = fields.get("workers") or []
    beat: dict[str, Any] = {
        "workers": [str(w) for w in workers] if isinstance(workers, list) else [],
        "slots": _count(fields.get("slots")),
        "slots_used": _count(fields.get("slots_used")),
        "version": str(fields.get("version") or ""),
        "at": format_time(now),
    }
    layout.host_beats(root).mkdir(parents=True, exist_ok=True)
    with _lock(root):
        write_json(_path(root, slug), beat)
    return beat


def mark_down(root: Path, slug: str, since: str) -> bool:
    """Note that ``slug`` is down (since its last heartbeat); False if it already was, or
    beat again meanwhile."""
    with _lock(root):
        beat = read(root, slug)
        if beat is None or beat.get("down_since") or beat.get("at") != since:
            return False
        write_json(_path(root, slug), {**beat, "down_since": since})
        return True


def silent_for(beat: dict[str, Any], now: datetime) -> float | None:
    """Seconds since ``beat`` was received (None if its time is unreadable)."""
    try:
        return (now - parse_time(str(beat.get("at")))).total_seconds()
    except ValueError:
        return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
