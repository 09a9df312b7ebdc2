"""``aof notify list`` and ``aof notify test``: recent events with their deliveries, and a
test message sent now.

The listing reads the end of the outbox and of the delivery log (the cost follows the
number of events asked for, not the history) and the worker's state (what is queued,
retrying or held). Channels are shown redacted: scheme and host at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import ConfigError, NotFound
from .channels import redact, send
from .events import message
from .outbox import tail
from .route import channels_for
from .state import State


def recent(root: Path, config: Mapping[str, Any], limit: int = 20) -> dict[str, Any]:
    """The last ``limit`` events (oldest first), each with its deliveries per channel, the
    counts per channel and result, and how many events are not settled yet."""
    events = tail(layout.notify_outbox(root), limit)
    if len(events) < limit:
        events = tail(layout.notify_outbox(root, 1), limit - len(events)) + events
    state = State.load(root)
    attempts = tail(layout.notify_deliveries(root), max(limit, 1) * 16)
    if len(attempts) < max(limit, 1) * 16:
        attempts = tail(layout.notify_deliveries(root, 1), limit * 16) + attempts
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for line in attempts:
        last[(str(line.get("fp")), str(line.get("channel")))] = line
    section = config.get("notify") or {}
    rows = []
    for ev in events:
        fp = str(ev["fp"])
        item = state.pending.get(fp)
        if item is not None:
            deliveries = {c: _status(ch) for c, ch in item["channels"].items()}
        else:
            seen = {c: line for (f, c), line in last.items() if f == fp}
            deliveries = {c: _from_log(line) for c, line in sorted(seen.items())}
            if not deliveries and not state.seen(fp):
                deliveries = {c: {"status": "queued"} for c in channels_for(ev, section)}
        rows.append({**ev, "deliveries": deliveries})
    return {
        "events": rows,
        "counts": state.counts,
        "unsettled": len(state.pending),
        "channels": {
            name: redact(str(spec)) for name, spec in (section.get("channels") or {}).items()
        },
    }


def _status(ch: Mapping[str, Any]) -> dict[str, Any]:
    out = {"status": ch["status"], "attempts": ch.get("attempts", 0)}
    for key in ("at", "next_at", "error"):
        if ch.get(key):
            out[key] = ch[key]
    return out


def _from_log(line: Mapping[str, Any]) -> dict[str, Any]:
    out = {"status": line.get("result"), "attempts": line.get("attempt"), "at": line.get("at")}
    for key in ("next_at", "error", "digest"):
        if line.get(key):
            out[key] = line[key]
    return out


def test_channels(
    root: Path,
    config: Mapping[str, Any],
    channel: str | None,
    environ: Mapping[str, str],
    at: str,
) -> list[dict[str, Any]]:
    """Send a test message now to ``channel`` (None: every channel): per channel, its
    redacted target, ``ok`` and the ``error``. ConfigError when there are no channels,
    NotFound for an unknown one."""
    channels = (config.get("notify") or {}).get("channels") or {}
    if not channels:
        raise ConfigError(
            "aof.yaml: notify.channels: no channel is configured (docs/notifications.md)"
        )
    if channel is not None and channel not in channels:
        raise NotFound(
            f"aof.yaml: notify.channels: no channel {channel!r} "
            f"(channels: {', '.join(sorted(channels))})"
        )
    ev = {
        "event": "test",
        "severity": "info",
        "reason": "a test message from `aof notify test`: this channel works",
        "hint": "nothing: it is a test",
        "at": at,
    }
    title, body = message(ev, str(config.get("name") or "fleet"))
    out = []
    for name in [channel] if channel else sorted(channels):
        result = send(name, str(channels[name]), title, body, ev, root=root, environ=environ)
        out.append(
            {
                "channel": name,
                "target": redact(str(channels[name])),
                "ok": result.ok,
                "error": result.error,
            }
        )
    return out


__all__ = ["recent", "test_channels"]
