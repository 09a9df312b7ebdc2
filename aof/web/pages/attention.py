"""Everything waiting on a person, in lanes by what the person has to do.

- **respond**: a question an agent asked (blocked, ``blocked.reason: question``): answer it;
- **review**: a human gate (in review at a gate of kind ``human``): approve or reject;
- **merge**: a pull request green and approved, waiting for a person to merge it;
- **blocked**: a task stopped for a person: over its budget, at its rejection cap, a gate
  that kept failing, a credential on its branch: retry it (back to ready), or cancel it;
- **deadletter**: out of attempts: fix the cause, resurrect it;
- **stuck**: a running agent that has printed nothing for too long: look at its run.

Tasks come from the store's listing; the reason of a blocked or dead task from its file;
``merge`` and ``stuck`` from the task's latest record in the recent audit trail (a task
moved on since is no longer waiting). The ``actions`` are the dashboard's action names.
"""

from __future__ import annotations

from typing import Any

from ...errors import AofError
from ...fleet import Fleet
from ...model.task import State

LANES = ("respond", "review", "merge", "blocked", "deadletter", "stuck")
TITLES = {
    "respond": "Respond: questions",
    "review": "Review: human gates",
    "merge": "Merge: pull requests",
    "blocked": "Blocked: a person decides",
    "deadletter": "Dead letters",
    "stuck": "Stuck agents",
}
RECENT_RECORDS = 2000  # the audit records looked at for merge_waiting and stuck


def recent_records(fleet: Fleet, n: int = RECENT_RECORDS) -> list[dict[str, Any]]:
    """The last ``n`` readable audit records, oldest first."""
    from ...fleetapi import recent_audit

    return recent_audit(fleet, n)


def _last_by_task(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for rec in records:
        tid = (rec.get("entity") or {}).get("id")
        if isinstance(tid, str) and (rec.get("entity") or {}).get("kind", "task") == "task":
            last[tid] = rec
    return last


def _item(row: dict[str, Any], lane: str, reason: str, actions: list[str]) -> dict[str, Any]:
    return {
        "lane": lane,
        "id": row["id"],
        "title": row.get("title"),
        "state": row["state"],
        "priority": row.get("priority"),
        "team": row.get("team"),
        "project": row.get("project"),
        "since": row.get("entered") or row.get("updated"),
        "reason": reason,
        "actions": actions,
    }


def _blocked(fleet: Fleet, row: dict[str, Any], last: dict[str, Any] | None) -> dict[str, Any]:
    try:
        blocked = fleet.get_task(row["id"]).meta.get("blocked") or {}
    except AofError:
        blocked = {}
    if blocked.get("reason") == "question":
        item = _item(row, "respond", str(blocked.get("question") or ""), ["answer", "cancel"])
        item["asked_by"] = blocked.get("by")
        return item
    reason = str(blocked.get("reason") or "blocked")
    if last and last.get("action") == "run_ended" and "budget" in str(last.get("reason")):
        item = _item(row, "blocked", reason, ["retry", "cancel"])
        item["kind"] = "budget"
        return item
    item = _item(row, "blocked", reason, ["retry", "cancel"])
    item["kind"] = "cap" if "reject" in str((last or {}).get("event") or "") else "blocked"
    return item


def _deadletter(fleet: Fleet, row: dict[str, Any]) -> dict[str, Any]:
    try:
        error = fleet.get_task(row["id"]).meta.get("last_error")
    except AofError:
        error = None
    return _item(row, "deadletter", str(error or "out of attempts"), ["resurrect", "cancel"])


def attention(fleet: Fleet) -> dict[str, Any]:
    """``{"lanes": {lane: [item]}, "counts": {lane: n}, "total": n}``: each item is a task
    (``id``, ``title``, ``state``, ``priority``, ``team``, ``project``, ``since``), why it
    waits (``reason``) and the actions a person can take on it (``actions``)."""
    states = [State.BLOCKED, State.REVIEW, State.DEADLETTER, State.IN_PROGRESS]
    rows = fleet.list_tasks(states=states)
    last = _last_by_task(recent_records(fleet))
    lanes: dict[str, list[dict[str, Any]]] = {lane: [] for lane in LANES}
    for row in rows:
        rec = last.get(row["id"])
        gate = row.get("gate") or {}
        if row["state"] == State.BLOCKED.value:
            item = _blocked(fleet, row, rec)
            lanes[item["lane"]].append(item)
        elif row["state"] == State.DEADLETTER.value:
            lanes["deadletter"].append(_deadletter(fleet, row))
        elif row["state"] == State.REVIEW.value and gate.get("kind") == "human":
            why = f"gate {gate.get('current')}: a person approves or rejects"
            lanes["review"].append(_item(row, "review", why, ["approve", "reject"]))
        elif row["state"] == State.REVIEW.value and rec and rec.get("event") == "merge_waiting":
            lanes["merge"].append(_item(row, "merge", str(rec.get("reason") or ""), []))
        elif row["state"] == State.IN_PROGRESS.value and rec and rec.get("action") == "stuck":
            lanes["stuck"].append(_item(row, "stuck", str(rec.get("reason") or ""), ["cancel"]))
    counts = {lane: len(items) for lane, items in lanes.items()}
    return {"lanes": lanes, "counts": counts, "total": sum(counts.values())}
