"""The daemon's runtime state: its lock (one daemon per fleet root) and ``.aof/daemon.json``.

Read by anything that asks whether a daemon runs (``aof daemon status``, reconcile, agent
sessions); written by the daemon only.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from .. import layout
from ..files.atomic import write_json

LOCK_NAME = layout.DAEMON_LOCK


def daemon_info(root: Path) -> dict[str, Any]:
    """What ``.aof/daemon.json`` says, and whether its daemon holds the lock right now."""
    try:
        info = json.loads(layout.daemon_state(root).read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            info = {}
    except (OSError, ValueError):
        info = {}
    running = False
    try:
        fd = os.open(layout.lock(root, LOCK_NAME), os.O_RDONLY)
    except OSError:
        fd = None
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            running = True
        finally:
            os.close(fd)
    return {**info, "running": running}


def take_lock(root: Path) -> int | None:
    """The daemon lock's descriptor, held (exclusive) until it is closed; None when another
    process holds it."""
    path = layout.lock(root, LOCK_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def write_state(root: Path, data: dict[str, Any]) -> None:
    """Replace ``.aof/daemon.json`` with ``data``."""
    path = layout.daemon_state(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
