"""docs/ao-fleet-parity.md stays true: 54 rows; each done row's command exists and its test too."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from click.testing import CliRunner

from aof.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "ao-fleet-parity.md"
ROW = re.compile(r"^\| (\d+) \| `([^`]+)` \| (.+?) \| (done) \|\s*(.*?)\s*\|$")


def rows() -> list[tuple[int, str, str, str, str]]:
    out = []
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            out.append((int(m[1]), m[2], m[3], m[4], m[5].strip()))
    return out


def test_every_ao_fleet_command_has_a_row() -> None:
    got = rows()
    assert [n for n, *_ in got] == list(range(1, 55))
    assert len({name for _, name, *_ in got}) == 54


def test_done_rows_name_a_working_command_and_an_existing_test() -> None:
    runner = CliRunner()
    for n, name, aof_form, status, tested_by in rows():
        if status != "done":
            assert not tested_by, n
            continue
        words = [
            w
            for w in re.findall(r"`aof ([^`]+)`", aof_form)[0].split()
            if w.replace("-", "").isalpha()
        ]
        result = runner.invoke(cli, [*words, "--help"])
        assert result.exit_code == 0, (name, words, result.output)
        module, func = tested_by.split("::")
        mod = importlib.import_module(f"tests.{module.removesuffix('.py')}")
        assert callable(getattr(mod, func, None)), (name, tested_by)
