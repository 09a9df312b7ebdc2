"""The planner's part for tasks in review: the work of their gates (docs/workflows.md).

Pure, like :mod:`aof.planner.plan`. A task in review stands at one gate (``gate`` in its
summary row: current, kind, role/agent/capabilities, worker); whoever works on that gate
holds the task's lease, as a claim does:

- a **command** gate is run by aof: a ``gate`` action, within ``workflow.max_concurrent_gates``
  (default 2) gates at once, apart from the agents' capacity;
- a **review** gate goes to a reviewer: a ``review`` action naming an agent whose profile holds
  the role (or is the agent named) and every capability asked, never the agent that did the
  work, within the same limits as any dispatch (the fleet's, the agent's, its coder's). When
  no agent but the worker could take it, the task waits with that reason, and a
  ``review_waiting`` action (applied once per gate and round) brings a person in;
- a **human** gate waits for ``aof gate approve|reject``: the reason says so;
- a **pr** gate is the forge poller's (:mod:`aof.forge.poller`): the reason names the pull
  request and what it waits on.

A lease in review that expired (a gate runner or a reviewer that died) is an ``expire``
action back to ``review``: the gate is worked on again. Review work is placed before any ready
task is dispatched: finishing work comes before starting more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import parse_time
from ..model.shapes import PlanAction, Waiting

FreeAgent = Callable[[dict[str, Any], list[str]], tuple[str | None, str | None, str | None]]
GATE_HOLDER = "aof"  # the lease holder while aof runs a command gate
DEFAULT_GATES = 2


def review_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if t["state"] == "review"]


def expired_reviews(
    rows: list[dict[str, Any]], beats: dict[str, str], now: datetime
) -> tuple[list[PlanAction], list[dict[str, Any]]]:
    """``expire`` actions of review leases that ran out, and the rows whose lease is live."""
    actions: list[PlanAction] = []
    live = []
    for t in rows:
        if not t.get("holder"):
            continue
        expires = beats.get(t["id"]) or t.get("expires")
        if expires and parse_time(expires) <= now:
            gate = (t.get("gate") or {}).get("current")
            actions.append(
                {
                    "kind": "expire",
                    "task": t["id"],
                    "to": "review",
                    "reason": f"gate {gate}: the lease of {t.get('holder')} expired at {expires}",
                }
            )
        else:
            live.append(t)
    return actions, live


def reviewers(t: dict[str, Any], snap: dict[str, Any]) -> list[str]:
    """The agents that may review ``t`` at its current gate (never its worker)."""
    gate = t.get("gate") or {}
    worker = gate.get("worker")
    wanted = set(gate.get("capabilities") or [])
    out = []
    for slug, a in sorted(snap["agents"].items()):
        if slug == worker:
            continue
        if gate.get("agent") and slug != gate["agent"]:
            continue
        if gate.get("role") and gate["role"] not in (a.get("roles") or []):
            continue
        if not wanted <= set(a.get("capabilities") or []):
            continue
        out.append(slug)
    return out


def who_reviews(gate: dict[str, Any]) -> str:
    caps = gate.get("capabilities") or []
    who = f"agent {gate['agent']}" if gate.get("agent") else f"role {gate.get('role')}"
    return who + (f" with capabilities {', '.join(caps)}" if caps else "")


def place_reviews(
    rows: list[dict[str, Any]],
    snap: dict[str, Any],
    config: dict[str, Any],
    free_agent: FreeAgent,
) -> tuple[list[PlanAction], list[Waiting]]:
    """The gate work of the review ``rows`` without a lease: (actions, waiting).

    ``free_agent(row, candidates)`` is the dispatcher's: (the agent to take it and its
    coder, or None and why not), counting what it places."""
    limit = int((config.get("workflow") or {}).get("max_concurrent_gates") or DEFAULT_GATES)
    running = sum(1 for t in rows if t.get("holder") == GATE_HOLDER)
    actions: list[PlanAction] = []
    waiting: list[Waiting] = []
    for t in rows:
        if t.get("holder"):
            continue
        gate = t.get("gate") or {}
        name, kind = gate.get("current"), gate.get("kind")
        if not name:
            continue
        if kind == "command":
            if running >= limit:
                waiting.append(
                    {
                        "task": t["id"],
                        "reason": f"gate {name} waits: {limit} gate(s) running "
                        "(workflow.max_concurrent_gates)",
                    }
                )
                continue
            running += 1
            actions.append({"kind": "gate", "task": t["id"], "gate": name})
        elif kind == "review":
            action, reason = _review(t, snap, free_agent)
            if action is not None:
                actions.append(action)
            if reason is not None:
                waiting.append({"task": t["id"], "reason": reason})
        elif kind == "pr":
            waiting.append({"task": t["id"], "reason": _pr_reason(str(name), gate)})
        else:
            waiting.append(
                {
                    "task": t["id"],
                    "reason": f"gate {name} waits for a person: "
                    f"`aof gate approve {t['id']}` or `aof gate reject {t['id']} --feedback ...`",
                }
            )
    return actions, waiting


def _review(
    t: dict[str, Any],
    snap: dict[str, Any],
    free_agent: FreeAgent,
) -> tuple[PlanAction | None, str | None]:
    gate = t.get("gate") or {}
    name = str(gate.get("current"))
    candidates = reviewers(t, snap)
    if not candidates:
        worker = gate.get("worker")
        reason = (
            f"gate {name} waits: no agent other than the worker ({worker}) can review it "
            f"(needs {who_reviews(gate)}); add one, or a person decides with `aof gate approve|"
            f"reject {t['id']}`"
        )
        marker = f"{gate.get('round')}:{name}"
        if gate.get("notified") == marker:
            return None, reason
        notice: PlanAction = {"kind": "review_waiting", "task": t["id"], "gate": name}
        notice["reason"] = reason
        return notice, reason
    agent, coder, why_not = free_agent(t, candidates)
    if agent is None:
        return None, f"gate {name} waits for a reviewer: {why_not}"
    action: PlanAction = {"kind": "review", "task": t["id"], "gate": name, "agent": agent}
    action["coder"] = coder
    return action, None


def _pr_reason(name: str, gate: dict[str, Any]) -> str:
    pr = gate.get("pr") or {}
    if not pr.get("number"):
        return f"gate {name}: the daemon pushes the branch and opens a pull request"
    merge = "merges it" if gate.get("merge") == "auto" else "tells a person to merge it"
    return (
        f"gate {name}: pull request #{pr['number']} ({pr.get('url')}) waits on its checks and "
        f"reviews; when approved and green aof {merge} (`aof forge status`)"
    )
