"""Hosts at run time: their workers' heartbeats, slots in use and which hosts are down.

``aof worker`` on each host sends a heartbeat every 10 s through the coordinator's API
(:func:`heartbeat`); ``aof host list`` shows it (:func:`host_rows`); the daemon looks each
tick for hosts silent for ``hosts.down_after_s`` (:func:`find_down`): such a host is down,
``aof daemon health`` says so and ``host_down`` is raised once per silence. Its runs' leases
are renewed by nobody (a remote run's supervisor renews its own lease through the API), so
they lapse into the planner's normal retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..store import hostbeats

if TYPE_CHECKING:
    from ..fleet import Fleet


def heartbeat(fleet: Fleet, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Keep a heartbeat of host ``slug`` (NotFound if the registry has no such host); the
    answer tells the worker its host's ``capacity_slots`` (its pool's size unless it was
    given ``--slots``)."""
    entry = fleet.registry.get("host", slug)
    beat = hostbeats.record(fleet.root, slug, fields, fleet.clock.now())
    return {
        "host": slug,
        "capacity_slots": int(entry.meta.get("capacity_slots", 1)),
        "down_after_s": down_after(fleet),
        "at": beat["at"],
    }


def down_after(fleet: Fleet) -> float:
    return float((fleet.config.data.get("hosts") or {}).get("down_after_s") or 90)


def host_rows(fleet: Fleet, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every registered host with its workers' last heartbeat: ``workers``, ``slots``,
    ``slots_used``, ``last_heartbeat``, ``silent_s`` and ``down`` (None where no worker ever
    reported: a host that runs nothing through ``aof worker`` is never down)."""
    now = now or fleet.clock.now()
    beats = hostbeats.read_all(fleet.root)
    limit = down_after(fleet)
    rows = []
    for host in fleet.registry.rows("host"):
        beat = beats.get(str(host["slug"]))
        silent = hostbeats.silent_for(beat, now) if beat else None
        rows.append(
            {
                **host,
                "workers": list(beat.get("workers") or []) if beat else [],
                "slots": beat.get("slots") if beat else None,
                "slots_used": beat.get("slots_used") if beat else None,
                "last_heartbeat": beat.get("at") if beat else None,
                "silent_s": None if silent is None else round(silent, 1),
                "down": None if silent is None else silent > limit,
            }
        )
    return rows


def find_down(fleet: Fleet, now: datetime | None = None) -> list[dict[str, Any]]:
    """Hosts silent for ``hosts.down_after_s``; each newly found one is noted and raises
    ``host_down`` (once per silence). Returns the rows of every host down now."""
    from ..clock import format_time
    from ..notify.hook import raise_event

    now = now or fleet.clock.now()
    down = [r for r in host_rows(fleet, now) if r["down"]]
    for row in down:
        if hostbeats.mark_down(fleet.root, row["slug"], str(row["last_heartbeat"])):
            reason = (
                f"host {row['slug']}: no heartbeat from its workers for {row['silent_s']:.0f} s "
                f"(hosts.down_after_s {down_after(fleet):g}; last {row['last_heartbeat']})"
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
