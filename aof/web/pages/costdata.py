"""What the fleet spent, for the Cost view and the cards' "cost so far".

The Cost view reads the cost ledger (``costs/YYYY-MM.jsonl``, one row per run: docs/cost.md)
through :func:`aof.fleetapi.cost`, the same figures as ``aof cost``; a budget is a team's or
project's ``budget: {usd_month: N}``. A card's cost so far is its task's ``spent.usd`` (what
its runs spent, written when each run ends). Everything the views know of cost goes through
this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import AofError
from ...fleet import Fleet

KEYS = ("team", "project", "coder", "agent")
TOKEN_KINDS = ("input", "cached_input", "cache_write", "output", "reasoning")
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


def cost(fleet: Fleet, *, month: str | None = None) -> dict[str, Any]:
    """``month``'s cost (``YYYY-MM``, default this month) from the cost ledger, by team,
    project, coder and agent; the latest months' totals; the teams' and projects' budgets with
    what is used of them."""
    from ...fleetapi import cost as ledger
    from ...fleetapi import cost_months

    month = month or fleet.clock.now().strftime("%Y-%m")
    reports = {key: ledger(fleet, month, key) for key in KEYS}
    by = {
        key: {str(r["key"] or "(none)"): _row(r) for r in rep["rows"]}
        for key, rep in reports.items()
    }
    latest = cost_months(fleet)[:MONTHS_SHOWN]
    return {
        "month": month,
        "total": _row(reports["team"]["total"]),
        "by": by,
        "months": {m: round(ledger(fleet, m, "team")["total"]["cost_usd"], 4) for m in latest},
        "budgets": _budget_rows(reports),
        "price_table": reports["team"]["price_table"],
    }


def _row(group: dict[str, Any]) -> dict[str, Any]:
    tokens = sum(int(group.get(k) or 0) for k in TOKEN_KINDS)
    return {
        "usd": round(float(group["cost_usd"]), 4),
        "reported_usd": round(float(group["reported_usd"]), 4),
        "estimated_usd": round(float(group["estimated_usd"]), 4),
        "runs": int(group["runs"]),
        "unknown_runs": int(group["unknown_runs"]),
        "tokens": tokens,
    }


def _budget_rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for kind in ("team", "project"):
        for row in reports[kind]["rows"]:
            limit = row.get("budget_usd_month")
            if limit is None:
                continue
            used = round(float(row["cost_usd"]), 4)
            pct = round(100 * used / limit, 1) if limit > 0 else None
            out.append(
                {"kind": kind, "slug": row["key"], "usd_month": limit, "used_usd": used, "pct": pct}
            )
    return out
