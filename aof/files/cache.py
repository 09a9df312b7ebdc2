"""Derived data under ``.aof/cache/``: JSON files that may vanish or rot at any time.

Reads treat a missing or corrupt file as empty; writes are atomic (temp + replace) and
best effort, because a cache that cannot be written only costs speed. Nothing here is ever
the source of truth: every cache is keyed on the stamps of the files it was built from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import write_json


def read(path: Path) -> Any:
    """The cached JSON at ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def write(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as compact JSON; silently give up on any OS error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, data, compact=True)
    except OSError:
        pass
