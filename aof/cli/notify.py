"""``aof notify``: send a test message to a channel, list recent events and deliveries."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, pass_env


@click.group("notify")
def notify_group() -> None:
    """Notifications: send a test message, list recent events and their deliveries.

    Events are routed to channels by the notify rules of aof.yaml (docs/notifications.md).

    \b
    Example:
      aof notify test ops
      aof notify list --limit 50 --json
    """


@notify_group.command("test")
@click.argument("channel", required=False)
@json_option
@pass_env
def test_cmd(env: Env, channel: str | None, as_json: bool) -> None:
    """Send a test message now to CHANNEL (default: every channel) and print each result.

    Exits 1 when a channel failed, naming it and why. ${VAR} in a channel is taken from
    this shell's environment.

    \b
    Example:
      aof notify test          # every channel
      aof notify test phone --json
    """
    import os

    from ..fleetapi import notify_test

    results = notify_test(env.fleet(), channel, os.environ)
    lines = [
        f"{r['channel']:<12} {r['target']:<32} " + ("ok" if r["ok"] else f"FAILED: {r['error']}")
        for r in results
    ]
    emit(results, as_json, "\n".join(lines))
    failed = [r["channel"] for r in results if not r["ok"]]
    if failed:
        if not as_json:
            click.echo(f"Error: {len(failed)} channel(s) failed: {', '.join(failed)}", err=True)
        raise SystemExit(1)


@notify_group.command("list")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Events to show."
)
@json_option
@pass_env
def list_cmd(env: Env, limit: int, as_json: bool) -> None:
    """Recent events and their deliveries per channel: delivered, failed (with the error),
    retrying at a time, held for a digest, or queued; then the counts per channel.

    \b
    Example:
      aof notify list
      aof notify list --limit 100 --json | jq '.events[] | select(.event == "asked")'
    """
    from ..fleetapi import notify_list

    data = notify_list(env.fleet(), limit)
    emit(data, as_json, _text(data))


def _text(data: dict[str, Any]) -> str:
    lines = []
    for ev in data["events"]:
        task = f" {ev['task']} {ev.get('title') or ''}".rstrip() if ev.get("task") else ""
        lines.append(f"{ev['at']}  {ev['severity']:<7} {ev['event']}{task}")
        if ev.get("reason"):
            lines.append(f"    reason: {ev['reason']}")
        for name, d in ev["deliveries"].items():
            lines.append(f"    {name}: {_delivery(d)}")
        if not ev["deliveries"]:
            lines.append("    (no channel)")
    if not lines:
        lines.append("no notification events")
    counts = ", ".join(
        f"{name}: " + " ".join(f"{k} {v}" for k, v in sorted(per.items()))
        for name, per in sorted(data["counts"].items())
    )
    lines.append(f"counts: {counts or 'none'}; not settled: {data['unsettled']}")
    return "\n".join(lines)


def _delivery(d: dict[str, Any]) -> str:
    status = str(d.get("status"))
    if status == "retrying":
        return f"retrying at {d.get('next_at')} (attempt {d.get('attempts')}): {d.get('error')}"
    if status == "failed":
        return f"failed after {d.get('attempts')} attempt(s): {d.get('error')}"
    if status == "delivered":
        via = f" in a digest of {d['digest']}" if d.get("digest") else ""
        return f"delivered at {d.get('at')}{via}"
    if status == "held":
        return "held for a digest (a storm)"
    return status
