#!/usr/bin/env python3
"""Generate docs/cli.md from the CLI's own --help output; --check fails if it is stale."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
HEADER = """# CLI reference

Generated from `aof --help` by `scripts/gen_cli_docs.py` (run `make docs` after changing a
command; a test fails when this file is stale). Exit codes: [exit-codes.md](exit-codes.md).
JSON shapes of `--json` output: [json.md](json.md).
"""


def commands(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, name
            out.extend(commands(sub, [*path, name]))
    return out


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from aof.cli import cli

    parts = [HEADER]
    runner = CliRunner()
    for path, _ in commands(cli, ["aof"]):
        result = runner.invoke(cli, [*path[1:], "--help"], prog_name="aof", terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        level = "#" * min(len(path) + 1, 4)
        parts.append(f"{level} `{' '.join(path)}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
