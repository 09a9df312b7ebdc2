"""The cost ledger: ``costs/YYYY-MM.jsonl``, one row per settled run, by the month it ended.

A row is one JSON object on one line (:data:`FIELDS`, in that order). The files are
committed with the settle that wrote each row, so a month's spend is one small file to read
(the planner's budget check, ``aof cost``) and travels with the fleet through git. Rows are
appended under a lock (``.aof/locks/costs.lock``) and never rewritten; a run's row is
written once: :func:`append` refuses a run id already in its month's file or the month
before (a run settled twice, or settled again by the daemon after its supervisor died).

Each month's totals by team, project and coder are kept in a stamp-keyed cache
(``.aof/cache/cost-totals.bin``), so a daemon tick reads a month's file only after it
changed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .. import layout
from ..files.locks import Lock
from ..files.stampcache import StampCache

VERSION = 1
FIELDS = (
    "v",
    "run",
    "task",
    "attempt",
    "label",
    "team",
    "project",
    "host",
    "agent",
    "coder",
    "model",
    "input",
    "cached_input",
    "cache_write",
    "output",
    "reasoning",
    "cost_usd",
    "cost_source",
    "price_table",
    "outcome",
    "ended",
    "models",
)
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])\Z")
TOTALS = ("team", "project", "coder")


def format_row(row: dict[str, Any]) -> str:
    """One ledger line (no newline): the known fields in their order, then any others."""
    ordered = {k: row[k] for k in FIELDS if k in row}
    ordered.update((k, v) for k, v in row.items() if k not in ordered)
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def parse_row(line: str) -> dict[str, Any] | None:
    """The row of one ledger line; None for a blank, torn or foreign line."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("run"), str) else None


def previous(month: str) -> str:
    """The month before ``month`` (``2027-01`` -> ``2026-12``)."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def months(root: Path) -> list[str]:
    """The months the ledger has a file for, oldest first."""
    try:
        names = os.listdir(layout.costs(root))
    except FileNotFoundError:
        return []
    return sorted(n[:-6] for n in names if n.endswith(".jsonl") and MONTH_RE.match(n[:-6]))


def read(root: Path, month: str) -> list[dict[str, Any]]:
    """Every row of ``month`` (none when it has no file), in the order they were written."""
    try:
        text = layout.cost_month(root, month).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [row for line in text.splitlines() if (row := parse_row(line)) is not None]


def append(root: Path, row: dict[str, Any], month: str) -> tuple[Path, list[dict[str, Any]] | None]:
    """Append ``row`` to ``month``'s file; (the file, the month's rows before it). The rows
    are None, and nothing is written, when the run already has a row this month or the
    month before."""
    path = layout.cost_month(root, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Lock(layout.lock(root, "costs.lock")):
        rows = read(root, month)
        seen = {r["run"] for r in (*rows, *read(root, previous(month)))}
        if row["run"] in seen:
            return path, None
        with open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            torn = f.tell() > 0 and _last_byte(f) != b"\n"  # a writer killed mid-line
            f.write((("\n" if torn else "") + format_row(row) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    return path, rows


def _last_byte(f: Any) -> bytes:
    f.seek(-1, os.SEEK_END)
    last: bytes = f.read(1)
    f.seek(0, os.SEEK_END)
    return last


def add_up(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """USD by team, by project and by coder of ``rows`` (rows of unknown cost add nothing)."""
    out: dict[str, dict[str, float]] = {k: {} for k in TOTALS}
    for row in rows:
        cost = row.get("cost_usd")
        if not isinstance(cost, int | float):
            continue
        for key in TOTALS:
            name = row.get(key)
            if name:
                out[key][str(name)] = out[key].get(str(name), 0.0) + float(cost)
    return out


def totals(root: Path, month: str) -> dict[str, dict[str, float]]:
    """USD spent in ``month`` by team, project and coder (cached on the file's stamp)."""
    path = layout.cost_month(root, month)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {k: {} for k in TOTALS}
    cache = StampCache(root, "cost-totals.bin", VERSION)
    listing = cache.listing()
    value = listing.get(month, st, lambda: add_up(read(root, month)))
    listing.finish(covers=lambda key: key == month)
    return value if value is not None else {k: {} for k in TOTALS}
