"""``aof board``'s views: the plain text of a pipe, and the terminal's kanban (rich): a column
per open state side by side, a swimlane per team or project (``--by``)."""

from __future__ import annotations

from typing import Any

from ..model.shapes import lanes
from .safe_text import safe_text

CARDS_SHOWN = 20  # cards of one column (or one cell) before "... and N more"


def board_json(data: dict[str, Any], by: str | None) -> dict[str, Any]:
    if not by:
        return data
    return {"counts": data["counts"], "by": by, "lanes": lanes(data["columns"], by)}


def board_text(data: dict[str, Any], by: str | None, line: Any) -> str:
    """The plain board: counts, then each open column's cards (per swimlane with ``by``)."""
    out = ["  ".join(f"{s}: {n}" for s, n in data["counts"].items())]
    groups = lanes(data["columns"], by) if by else {"": data["columns"]}
    for lane, columns in groups.items():
        if by:
            out.append(f"\n== {by} {lane}")
        for state, items in columns.items():
            if not items:
                continue
            out.append(f"\n{state.upper()} ({len(items)})")
            out += ["  " + line(r, state=False) for r in items[:CARDS_SHOWN]]
            if len(items) > CARDS_SHOWN:
                more = len(items) - CARDS_SHOWN
                out.append(f"  ... and {more} more (aof task list --state {state})")
    return "\n".join(out)


def _card(row: dict[str, Any], width: int) -> str:
    extra = ""
    gate = row.get("gate") or {}
    if row["state"] == "review" and gate.get("current"):
        extra = f" @{gate['current']}"
    if row.get("holder"):
        extra += f" [{row['holder']}]"
    text = f"{row['id']} {row.get('title') or ''}"
    room = max(width - len(extra), 8)
    if len(text) > room:
        text = text[: room - 1] + "…"
    return safe_text(text + extra)


def board_table(data: dict[str, Any], by: str | None, width: int) -> Any:
    """The terminal's kanban: a column per open state that has cards, side by side."""
    from rich.table import Table  # type: ignore[import-not-found,unused-ignore]

    counts = data["counts"]
    shown = [s for s, items in data["columns"].items() if items] or list(data["columns"])[:3]
    title = "  ".join(f"{s} {n}" for s, n in counts.items())
    table = Table(title=title, expand=True, show_lines=bool(by))
    if by:
        table.add_column(by, no_wrap=True, max_width=max(width // 8, 10))
    cell = max((width - (width // 8 if by else 0)) // max(len(shown), 1) - 3, 10)
    for state in shown:
        table.add_column(f"{state.upper()} ({counts.get(state, 0)})", overflow="fold")
    groups = lanes(data["columns"], by) if by else {"": data["columns"]}
    for lane, columns in groups.items():
        cells = []
        for state in shown:
            items = columns.get(state) or []
            text = "\n".join(_card(r, cell) for r in items[:CARDS_SHOWN])
            if len(items) > CARDS_SHOWN:
                text += f"\n… and {len(items) - CARDS_SHOWN} more"
            cells.append(text)
        table.add_row(*([safe_text(lane)] if by else []), *cells)
    return table
