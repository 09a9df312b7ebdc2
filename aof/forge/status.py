"""``aof forge status``: the open pull requests of the pr gates, their condition as the
daemon's poller last saw it, the next reaction, and the forge's rate-limit budget."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .. import layout

if TYPE_CHECKING:
    from ..fleet import Fleet


def forge_status(fleet: Fleet) -> dict[str, Any]:
    """``{"prs": [...], "budget", "paused_until", "poll_s", "seen_at"}``: a row per task in
    review at a pr gate (from the task files) with what the poller saw of its PR (from
    ``.aof/forge/state.json``; nothing when no daemon has polled it yet)."""
    try:
        state = json.loads(layout.forge_state(fleet.root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    seen = state.get("tasks") or {}
    rows = []
    for r in fleet.list_tasks(states=["review"]):
        gate = r.get("gate") or {}
        if gate.get("kind") != "pr":
            continue
        pr = gate.get("pr") or {}
        last = seen.get(r["id"]) or {}
        rows.append(
            {
                "task": r["id"],
                "title": r["title"],
                "repo": pr.get("repo"),
                "pr": pr.get("number"),
                "url": pr.get("url"),
                "merge": gate.get("merge", "manual"),
                "checks": last.get("checks"),
                "failing": last.get("failing") or [],
                "approvals": last.get("approvals"),
                "changes_requested": last.get("changes"),
                "mergeable": last.get("mergeable"),
                "next": last.get("next") or [],
                "error": last.get("error"),
            }
        )
    cfg = ((fleet.config.data.get("forges") or {}).get("github")) or {}
    return {
        "prs": rows,
        "budget": state.get("budget"),
        "paused_until": _when(state.get("paused_until")),
        "poll_s": float(cfg.get("poll_s") or 60),
        "seen_at": _when(state.get("updated")),
    }


def _when(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float) or not epoch:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))


def status_text(data: dict[str, Any]) -> str:
    """The status for people: a line per PR, then the budget."""
    lines = []
    for r in data["prs"]:
        pr = f"#{r['pr']}" if r["pr"] else "(not opened yet)"
        cond = r["checks"] or "not polled yet"
        if r["failing"]:
            cond += f" ({', '.join(r['failing'])})"
        extra = f", {r['approvals']} approval(s)" if r["approvals"] is not None else ""
        nxt = f"; next: {', '.join(r['next'])}" if r["next"] else ""
        err = f"; error: {r['error']}" if r["error"] else ""
        lines.append(f"{r['task']:<10} {r['repo'] or '-'} {pr}  checks {cond}{extra}{nxt}{err}")
    if not lines:
        lines.append("no task waits at a pr gate")
    budget = data.get("budget") or {}
    if budget.get("remaining") is not None:
        lines.append(
            f"rate limit: {budget['remaining']}/{budget.get('limit')} left; "
            f"{budget.get('requests', 0)} request(s), {budget.get('not_modified', 0)} answered 304"
        )
    if data.get("paused_until"):
        lines.append(f"polling paused until {data['paused_until']} (rate limit spent)")
    lines.append(f"poll every {data['poll_s']:g} s; last seen {data['seen_at'] or 'never'}")
    return "\n".join(lines)
