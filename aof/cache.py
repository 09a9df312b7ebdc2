"""Derived data under ``.aof/cache/``: JSON files that may vanish or rot at any time.

Reads treat a missing or corrupt file as empty; writes are atomic (temp + replace) and
best effort, because a cache that cannot be written only costs speed. Nothing here is ever
the source of truth: every cache is keyed on the stamps of the files it was built from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
