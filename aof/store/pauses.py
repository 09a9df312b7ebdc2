"""Coder pauses: a coder that hit its usage limit is paused until the limit resets.

``.aof/coder-pauses.json`` maps a coder to ``{"until": ISO time, "reason": ..., "task": ...}``.
The planner reads it through the snapshot and dispatches nothing to a paused coder until
``until`` (``aof why`` says so); each daemon tick's commit records the pauses it planned
with (trailer ``Plan-Pauses``), so ``aof plan --replay`` sees the same. The file lives in
``.aof/`` because it is runtime state, like heartbeats.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import layout
from ..clock import format_time, parse_time
from ..files.atomic import write_text
from ..files.locks import lock_for


def _path(root: Path) -> Path:
    return layout.pauses(root)


def read(root: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def active(root: Path, now: datetime) -> dict[str, str]:
    """Coder -> pause end, for pauses not yet over at ``now``."""
    out = {}
    for coder, pause in read(root).items():
        try:
            if parse_time(str(pause.get("until"))) > now:
                out[coder] = format_time(parse_time(str(pause["until"])))
        except (ValueError, KeyError):
            continue
    return dict(sorted(out.items()))


def pause(root: Path, coder: str, until: datetime, *, reason: str, task: str | None) -> None:
    """Pause ``coder`` until ``until`` (a later pause already in place is kept)."""
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock_for(path):
        data = read(root)
        old = data.get(coder)
        if old:
            try:
                if parse_time(str(old.get("until"))) >= until:
                    return
            except ValueError:
                pass
        data[coder] = {"until": format_time(until), "reason": reason, "task": task}
        write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
