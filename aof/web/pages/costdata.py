"""What the fleet spent, for the Cost view and the cards' "cost so far".

The one source is each task's ``spent`` (``{usd, tokens, wall_s}``, written by the runner
when a run ends: docs/file-formats.md). Only tasks that ran (``attempts`` above 0, or a gate
history) can have spent anything, so only their files are read. Spending is counted in the
month the task was last updated; a budget is a team's or project's ``budget: {usd_month: N}``.
Everything the views know of cost goes through this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from ...errors import AofError
from ...fleet import Fleet

KEYS = ("team", "project", "coder", "agent")
MONTHS_SHOWN = 6


def _ran(row: dict[str, Any]) -> bool:
    return bool(row.get("attempts")) or bool((row.get("gate") or {}).get("last"))


def spent_of(fleet: Fleet, rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{task id: its spent mapping}`` of the rows that ran and spent something."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row.get("id") or row.get("invalid") or not _ran(row):
            continue
        try:
            spent = fleet.get_task(str(row["id"])).meta.get("spent")
        except AofError:
            continue  # moved or broken since it was listed: no figure, never an error
        if isinstance(spent, dict) and spent:
            out[str(row["id"])] = spent
    return out


def usd(spent: dict[str, Any] | None) -> float:
    try:
        return float((spent or {}).get("usd") or 0)
    except (TypeError, ValueError):
        return 0.0


def _agent_of(meta: dict[str, Any]) -> str | None:
    lease: dict[str, Any] = meta["lease"] if isinstance(meta.get("lease"), dict) else {}
    gate: dict[str, Any] = meta["gate"] if isinstance(meta.get("gate"), dict) else {}
    return lease.get("holder") or gate.get("worker") or meta.get("agent")


def _budgets(fleet: Fleet, kind: str) -> dict[str, float]:
    out = {}
    for row in fleet.registry.rows(kind):
        budget = row.get("budget")
        if isinstance(budget, dict) and budget.get("usd_month") is not None:
            try:
                out[str(row["slug"])] = float(budget["usd_month"])
            except (TypeError, ValueError):
                continue
    return out


def _add(table: dict[str, dict[str, float]], key: str, spent: dict[str, Any]) -> None:
    row = table.setdefault(key, {"usd": 0.0, "tokens": 0.0, "tasks": 0.0})
    row["usd"] += usd(spent)
    with contextlib.suppress(TypeError, ValueError):
        row["tokens"] += float(spent.get("tokens") or 0)
    row["tasks"] += 1


def cost(fleet: Fleet, *, month: str | None = None) -> dict[str, Any]:
    """The spending of ``month`` (``YYYY-MM``, default this month) by team, project, coder and
    agent, the months before it in total, and the budgets with what is used of them."""
    now = fleet.clock.now()
    month = month or now.strftime("%Y-%m")
    rows = [r for r in fleet.list_tasks() if _ran(r)]
    months: dict[str, float] = {}
    by: dict[str, dict[str, dict[str, float]]] = {k: {} for k in KEYS}
    total = {"usd": 0.0, "tokens": 0.0, "tasks": 0.0}
    for row in rows:
        try:
            meta = fleet.get_task(str(row["id"])).meta
        except AofError:
            continue
        spent = meta.get("spent")
        if not isinstance(spent, dict) or not spent:
            continue
        when = str(meta.get("updated") or meta.get("created") or "")[:7]
        months[when] = months.get(when, 0.0) + usd(spent)
        if when != month:
            continue
        keys = {
            "team": meta.get("team"),
            "project": meta.get("project"),
            "coder": meta.get("coder"),
            "agent": _agent_of(meta),
        }
        for k, v in keys.items():
            _add(by[k], str(v or "(none)"), spent)
        _add({"": total}, "", spent)
    return {
        "month": month,
        "total": _rounded(total),
        "by": {k: {n: _rounded(v) for n, v in sorted(t.items())} for k, t in by.items()},
        "months": {
            m: round(v, 4) for m, v in sorted(months.items(), reverse=True)[:MONTHS_SHOWN] if m
        },
        "budgets": _budget_rows(fleet, by),
    }


def _rounded(row: dict[str, float]) -> dict[str, Any]:
    return {"usd": round(row["usd"], 4), "tokens": int(row["tokens"]), "tasks": int(row["tasks"])}


def _budget_rows(fleet: Fleet, by: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    out = []
    for kind in ("team", "project"):
        for slug, limit in sorted(_budgets(fleet, kind).items()):
            used = round(by[kind].get(slug, {}).get("usd", 0.0), 4)
            pct = round(100 * used / limit, 1) if limit > 0 else None
            out.append(
                {"kind": kind, "slug": slug, "usd_month": limit, "used_usd": used, "pct": pct}
            )
    return out
