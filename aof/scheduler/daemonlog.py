"""What a daemon says about itself: its log (``runs/daemon.log``, and stderr) and the
fields of ``.aof/daemon.json`` (read by ``aof daemon status``, the dashboard and reconcile)."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, layout
from ..clock import format_time

if TYPE_CHECKING:
    from .daemon import Daemon


def daemon_logger(root: Path, name: str, to_stderr: bool) -> logging.Logger:
    """A logger writing UTC-stamped lines to ``runs/daemon.log`` (and stderr)."""
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    fmt.converter = time.gmtime
    layout.runs(root).mkdir(exist_ok=True)
    handlers: list[logging.Handler] = [logging.FileHandler(layout.daemon_log(root))]
    if to_stderr:
        handlers.append(logging.StreamHandler())
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    return log


def state_of(daemon: Daemon, state: str) -> dict[str, Any]:
    """The fields of ``.aof/daemon.json`` for ``daemon`` now (docs/json.md)."""
    return {
        "state": state,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "root": str(daemon.root),
        "version": __version__,
        "started": daemon.started,
        "interval_s": daemon.interval,
        "watch": daemon.watch_note,
        "metrics_port": daemon.metrics_bound,
        "ticks": daemon.ticks,
        "last_tick": daemon.last or None,
        "updated": format_time(daemon.fleet.clock.now()),
    }
