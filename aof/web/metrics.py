"""``/metrics`` of the dashboard: Prometheus text (docs/metrics.md).

When the fleet's daemon runs with ``--metrics-port``, its exposition is relayed as it is: it
has everything, the counters only the daemon sees (dispatches, run outcomes, gate results,
lease expiries, tick durations, forge requests) and the metrics read from the files. When no
daemon serves metrics (or it does not answer within a second), the dashboard reads the files
itself: tasks by state, team and project, notifications, cost.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request

from .context import read

RELAY_TIMEOUT_S = 1.0


@dataclass
class _Source:
    fleet: Any
    root: Path
    forge: Any = None


async def exposition(request: Request) -> tuple[bytes, str]:
    """The metrics text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return await read(request, _exposition), CONTENT_TYPE_LATEST


def _exposition(fleet: Any) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest

    from ..fleetapi import daemon_info
    from ..scheduler.metrics import FromFiles

    info = daemon_info(fleet)
    port = info.get("metrics_port") if info.get("running") else None
    if isinstance(port, int):
        relayed = _relay(port)
        if relayed is not None:
            return relayed
    registry = CollectorRegistry()
    registry.register(FromFiles(_Source(fleet, fleet.root)))
    return bytes(generate_latest(registry))


def _relay(port: int) -> bytes | None:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=RELAY_TIMEOUT_S) as answer:
            return bytes(answer.read())
    except OSError:
        return None
