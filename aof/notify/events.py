"""From an audit record to a notification event, and from an event to the message a person
reads.

:func:`event_of` names the event a record raises: the record's own ``event`` field first
(a verb that knows, like a review gate, says so), else the table in its body (a question,
a move to deadletter, a run stopped over budget or failing, an SLA breach, a stuck coder).
:func:`make_event` builds the event as the outbox keeps it: the fingerprint of the record,
the task (id, title, team, project), the reason and what a person can do. :func:`message`
renders one for a channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..model.notify import EVENTS

FAILING_RUNS = ("exited-without-reporting", "stuck", "start-failed")
REASON_MAX = 500  # characters of a reason a message carries

# What a person can do about each event ({id}: the task).
HINTS: dict[str, str] = {
    "asked": 'answer it: aof task answer {id} --text "..."',
    "review_waiting": 'review it: aof gate approve {id}, or aof gate reject {id} --feedback "..."',
    "rejected": "nothing yet: it went back to its agent with the feedback (aof task show {id})",
    "rejected_cap": "read the feedback (aof task show {id}), then aof task unblock {id} for "
    'another round, or aof task cancel {id} --reason "..."',
    "deadletter": "fix the cause (aof task show {id}: last_error), then aof task resurrect {id}",
    "budget_stopped": "raise the budget (aof task edit {id} --set budget.usd=N), then "
    "aof task unblock {id}; or cancel it",
    "sla_breached": "see why it waits: aof why {id}",
    "stuck": "look at its run (aof agent list, aof agent logs AGENT); stop it with "
    "aof agent kill {id}",
    "run_failed": "nothing yet: it is retried after a back-off (aof task show {id})",
    "daemon_degraded": "see runs/daemon.log and aof daemon status",
    "base_red": "the base branch's own checks fail: fix it there; the task's pull request "
    "waits (aof forge status)",
    "merge_waiting": "merge its pull request on the forge (aof forge status names it)",
    "budget_warning": "see where it goes: aof cost --by task; raise the budget with "
    "aof team update TEAM --budget-usd-month N (or aof project update)",
    "budget_exhausted": "no new work is dispatched to it this month: aof cost --by task; "
    "raise the budget with aof team update TEAM --budget-usd-month N (or aof project update)",
    "host_down": "see to the host's `aof worker` (systemctl status aof-worker); its runs' "
    "leases lapse and their tasks are retried (aof host list)",
    "sync_conflict": "a git sync kept this side and set the other aside (the reason names the "
    "copy under .aof/conflicts/): compare them and apply what is missing",
    "pr_stuck": "look at its pull request (aof forge status): a check that never ends, a "
    "reviewer who never answers",
}


def event_of(record: Mapping[str, Any]) -> str | None:
    """The notification event an audit record raises, or None."""
    explicit = record.get("event")
    if isinstance(explicit, str) and explicit:
        return explicit
    action = record.get("action")
    changes = record.get("changes") or {}
    blocked = changes.get("blocked") if isinstance(changes, dict) else None
    if action == "blocked" and isinstance(blocked, dict) and blocked.get("reason") == "question":
        return "asked"
    if record.get("to") == "deadletter":
        return "deadletter"
    if action == "sla_breach":
        return "sla_breached"
    if action == "stuck":
        return "stuck"
    if action == "run_ended":
        outcome = str(record.get("reason") or "").partition(":")[0].strip()
        if outcome == "over-budget":
            return "budget_stopped"
        if outcome in FAILING_RUNS:
            return "run_failed"
    return None


def severity_of(event: str, section: Mapping[str, Any]) -> str:
    """``event``'s severity: aof.yaml's ``notify.severity`` for it, else its default."""
    chosen = (section.get("severity") or {}).get(event)
    return str(chosen or EVENTS.get(event, "warning"))


def fingerprint(*parts: Any) -> str:
    """A short, stable id of what raised an event (the same record: the same id)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def make_event(
    event: str,
    section: Mapping[str, Any],
    *,
    fp: str,
    at: str,
    reason: str | None,
    task: Mapping[str, Any] | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    """The event as the outbox keeps it (one JSON object)."""
    tid = str(task.get("id")) if task and task.get("id") else None
    text = " ".join(str(reason or "").split())
    out: dict[str, Any] = {
        "fp": fp,
        "at": at,
        "event": event,
        "severity": severity_of(event, section),
        "task": tid,
        "title": str(task.get("title") or "") if task else None,
        "team": task.get("team") if task else None,
        "project": task.get("project") if task else None,
        "reason": text[:REASON_MAX] + ("..." if len(text) > REASON_MAX else ""),
        "actor": actor,
        "action": action,
        "hint": HINTS.get(event, "").format(id=tid or "ID"),
    }
    return {k: v for k, v in out.items() if v is not None}


def subject_line(ev: Mapping[str, Any]) -> str:
    """``aof asked: t-3kf9a2 Fix the login bug`` (or the fleet's name for a daemon event)."""
    what = f"{ev['task']} {ev.get('title') or ''}".strip() if ev.get("task") else "the fleet"
    return f"aof {ev['event']}: {what}"


def message(ev: Mapping[str, Any], fleet: str) -> tuple[str, str]:
    """(title, body) of one event for people."""
    lines = [
        f"[{str(ev.get('severity', 'warning')).upper()}] {ev['event']} in fleet {fleet}",
    ]
    if ev.get("task"):
        lines.append(f"Task: {ev['task']} {ev.get('title') or ''}".rstrip())
    if ev.get("reason"):
        lines.append(f"Reason: {ev['reason']}")
    if ev.get("hint"):
        lines.append(f"What you can do: {ev['hint']}")
    by = f" by {ev['actor']}" if ev.get("actor") else ""
    lines.append(f"At {ev.get('at')}{by}")
    return subject_line(ev), "\n".join(lines)


def digest(events: list[Mapping[str, Any]], fleet: str) -> tuple[str, str]:
    """(title, body) of one message standing for many events (a storm)."""
    title = f"aof: {len(events)} events in fleet {fleet}"
    lines = [f"{len(events)} events arrived faster than this channel takes them one by one:"]
    for ev in events:
        reason = f": {str(ev['reason'])[:120]}" if ev.get("reason") else ""
        lines.append(f"- [{ev.get('severity')}] {subject_line(ev)[4:]}{reason}")
    lines.append("`aof notify list` shows them all.")
    return title, "\n".join(lines)


__all__ = [
    "HINTS",
    "digest",
    "event_of",
    "fingerprint",
    "make_event",
    "message",
    "severity_of",
    "subject_line",
]
