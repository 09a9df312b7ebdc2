"""The Agents and Fleet views' data, and the Audit and Knowledge views' reads.

Agents: ``aof agent list --json``'s rows (the live runs the executor records, read as they
are: a page never forgets a run). Fleet: ``aof fleet overview --json`` plus the daemon's
state and the desired-vs-observed health. Audit: ``aof audit list --json``'s records after
the same filters. Knowledge: ``aof knowledge search --json``.
"""

from __future__ import annotations

from typing import Any

from ...fleet import Fleet
from ...fleetapi import daemon_info, health, overview
from ...runner.agent_list import agent_rows
from ...runner.executor import LocalExecutor
from ...runner.sessions import SESSION_LABEL

AUDIT_LIMIT = 200
AUDIT_FILTERS = ("task", "actor", "action", "since", "until", "text")


def agents(fleet: Fleet) -> list[dict[str, Any]]:
    """Live runs and open agent sessions, as ``aof agent list --json``."""
    runs = LocalExecutor(fleet.root, fleet.clock).runs()
    return agent_rows(fleet, runs, label=SESSION_LABEL)


def fleet_view(fleet: Fleet) -> dict[str, Any]:
    """``aof fleet overview --json`` with ``daemon`` (its state) and ``health``."""
    data = dict(overview(fleet))
    data["daemon"] = daemon_info(fleet)
    data["health"] = health(fleet)
    return data


def audit_filters(params: Any) -> dict[str, str]:
    """The audit filters of a query string (blank ones left out, each cut at 200)."""
    out = {}
    for name in AUDIT_FILTERS:
        value = str(params.get(name) or "").strip()[:200]
        if value:
            out[name] = value
    return out


def audit(fleet: Fleet, filters: dict[str, str], limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The most recent ``limit`` audit records passing ``filters``, oldest first."""
    return fleet.audit.query(**filters, limit=limit)


def knowledge(fleet: Fleet, q: str | None, limit: int = 50) -> dict[str, Any]:
    """``aof knowledge search --json`` of ``q`` (everything, newest first, without one)."""
    return dict(fleet.knowledge.search(text=q or None, limit=limit))
