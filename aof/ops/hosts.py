"""Hosts at run time: their workers' heartbeats, slots in use and which hosts are down.

``aof worker`` on each host sends a heartbeat every 10 s through the coordinator's API
(kept by :mod:`aof.store.remotereports`, stamped with the coordinator's clock: a host's own
clock is never trusted); ``aof host list`` shows it (:func:`host_rows`). The daemon looks
each tick for hosts silent for ``hosts.down_after_s`` (:func:`find_down`): such a host is
down, ``aof daemon health`` says so and ``host_down`` is raised once per silence
(``.aof/hosts-down.json`` remembers which silences were told). Nobody renews the leases of
its runs (a remote run's supervisor renews its own through the API), so they lapse into the
planner's normal retry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import format_time, parse_time
from ..files.atomic import write_json
from ..files.locks import Lock

if TYPE_CHECKING:
    from ..service.context import ServiceContext as Fleet


def down_after(fleet: Fleet) -> float:
    return float((fleet.config.data.get("hosts") or {}).get("down_after_s") or 90)


def host_rows(fleet: Fleet, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every registered host with its workers' last heartbeat: ``workers``, ``slots``,
    ``slots_used``, ``last_heartbeat``, ``silent_s`` and ``down`` (None where no worker ever
    reported: a host that runs nothing through ``aof worker`` is never down)."""
    from ..store.remotereports import host_beats

    now = now or fleet.clock.now()
    beats = host_beats(fleet.root)
    limit = down_after(fleet)
    rows = []
    for host in fleet.registry.rows("host"):
        beat = beats.get(str(host["slug"])) or {}
        silent = _silent_for(beat, now)
        rows.append(
            {
                **host,
                "workers": list(beat.get("workers") or []),
                "slots": beat.get("slots"),
                "slots_used": beat.get("slots_used"),
                "last_heartbeat": beat.get("at"),
                "silent_s": None if silent is None else round(silent, 1),
                "down": None if silent is None else silent > limit,
            }
        )
    return rows


def find_down(fleet: Fleet, now: datetime | None = None) -> list[dict[str, Any]]:
    """Hosts silent for ``hosts.down_after_s``; each silence newly found raises
    ``host_down`` once. Returns the rows of every host down now."""
    from ..notify.hook import raise_event

    now = now or fleet.clock.now()
    down = [r for r in host_rows(fleet, now) if r["down"]]
    path = layout.hosts_down(fleet.root)
    with Lock(layout.lock(fleet.root, "hosts-down.lock")):
        try:
            told = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            told = {}
        told = told if isinstance(told, dict) else {}
        fresh = [r for r in down if told.get(r["slug"]) != r["last_heartbeat"]]
        now_down = {r["slug"]: r["last_heartbeat"] for r in down}
        if now_down != told:
            write_json(path, now_down)
    for row in fresh:
        reason = (
            f"host {row['slug']}: no heartbeat from its workers for {row['silent_s']:.0f} s "
            f"(hosts.down_after_s {down_after(fleet):g}; the last at {row['last_heartbeat']}); "
            "its runs' leases lapse and their tasks are retried"
        )
        raise_event(
            fleet.root,
            fleet.config.data,
            "host_down",
            reason,
            at=format_time(now),
            key=f"{row['slug']}@{row['last_heartbeat']}",
            once=True,
        )
    return down


def _silent_for(beat: dict[str, Any], now: datetime) -> float | None:
    """Seconds since ``beat`` was received (None without one)."""
    try:
        return (now - parse_time(str(beat["at"]))).total_seconds()
    except (KeyError, ValueError):
        return None
