"""``aof top`` and ``aof agent list`` fit the terminal: columns drop, then names shorten."""

from __future__ import annotations

import io
from typing import Any

import pytest

from aof.cli.agents import COLUMNS, live_table, table_text


def _rows(n: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "agent": f"refactor-the-authentication-layer-{i}",
            "state": "running",
            "coder": "claude",
            "cpu_pct": 12.5,
            "mem_mb": 512.0,
            "elapsed_s": 3725,
            "idle_s": 42,
            "tokens": 1234567,
            "cost_usd": 12.34,
            "task": f"t-abcdef{i}.12",
        }
        for i in range(n)
    ]


def test_every_column_when_there_is_room() -> None:
    text = table_text(_rows(), width=200)
    assert text.splitlines()[0].split() == [h for h, _ in COLUMNS]


@pytest.mark.parametrize("width", [80, 60, 40])
def test_the_plain_table_fits_the_width(width: int) -> None:
    lines = table_text(_rows(), width=width).splitlines()
    assert all(len(line) <= width for line in lines), lines
    header = lines[0].split()
    assert header[:2] == ["AGENT", "STATE"] and "TASK" in header and "ELAPSED" in header
    assert "IDLE" not in header  # the first to go


def test_names_are_shortened_only_when_dropping_columns_is_not_enough() -> None:
    lines = table_text(_rows(), width=40).splitlines()
    assert lines[0].split() == ["AGENT", "STATE", "ELAPSED", "TASK"]
    assert "…" in lines[1]


def test_the_live_table_fits_80_columns() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    console.print(live_table(_rows(), 80))
    lines = out.getvalue().splitlines()
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert "AGENT" in out.getvalue() and "TASK" in out.getvalue()
