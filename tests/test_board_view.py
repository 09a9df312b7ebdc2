"""``aof board``: plain text when piped (with swimlanes by team or project), lanes in JSON,
a kanban with the columns side by side on a terminal, and ``--watch`` refreshing in place
(typed into a real tmux pane)."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from aof import Fleet
from aof.cli.boardview import board_table

from .conftest import Cli, sub_env


def fleet_with_lanes(run: Cli, fleet: Fleet) -> dict[str, str]:
    for slug in ("platform", "growth"):
        run(
            "team",
            "create",
            "--slug",
            slug,
            "--name",
            slug,
            "--mission",
            "m",
            "--ownership",
            "company",
        )
    ids = {
        "api": fleet.create_task("Build the API", team="platform", ready=True).id,
        "site": fleet.create_task("Launch the site", team="growth", ready=True).id,
        "idea": fleet.create_task("Someday", team="growth").id,
    }
    fleet.claim(ids["api"], "coder-1")
    return ids


def test_piped_the_board_is_plain_text_with_swimlanes(run: Cli, fleet: Fleet) -> None:
    ids = fleet_with_lanes(run, fleet)
    out = run("board", "--by", "team").stdout
    growth, platform = out.index("== team growth"), out.index("== team platform")
    assert growth < platform
    assert out.index(ids["site"]) > growth and out.index(ids["api"]) > platform
    assert "IN-PROGRESS (1)" in out[platform:] and "[coder-1]" in out
    lanes = run.json("board", "--by", "team")["lanes"]
    assert [r["id"] for r in lanes["growth"]["backlog"]] == [ids["idea"]]
    assert [r["id"] for r in lanes["platform"]["in-progress"]] == [ids["api"]]
    assert "--watch needs a terminal" in run("board", "--watch", code=2).stderr


@pytest.mark.parametrize("width", [120, 80])
def test_on_a_terminal_the_columns_stand_side_by_side(run: Cli, fleet: Fleet, width: int) -> None:
    from rich.console import Console

    ids = fleet_with_lanes(run, fleet)
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False).print(
        board_table(fleet.board(), "team", width)
    )
    lines = buf.getvalue().splitlines()
    header = next(line for line in lines if "BACKLOG" in line)
    assert "READY" in header and "IN-PROGRESS" in header  # one row of columns
    assert all(len(line) <= width for line in lines)
    assert any(ids["api"] in line and "platform" in line for line in lines)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_watch_refreshes_in_place_in_a_terminal(run: Cli, fleet: Fleet, root: Path) -> None:
    ids = fleet_with_lanes(run, fleet)
    sock = f"aof-board-{uuid.uuid4().hex[:8]}"
    aof = shutil.which("aof", path=str(Path(__import__("sys").executable).parent))
    cmd = f"{aof} --root {root} board --by team --watch --interval 0.3"
    tmux = ["tmux", "-L", sock]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "140", "-y", "40", cmd], check=True, env=sub_env()
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout

        deadline = time.monotonic() + 30
        while ids["site"] not in screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ids["site"] in screen()
        fresh = fleet.create_task("Brand new work", team="growth", ready=True).id
        while fresh not in screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fresh in screen(), screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
