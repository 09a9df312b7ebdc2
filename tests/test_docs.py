"""Docs that are generated or promised stay true: the CLI reference, the README's commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["gen_cli_docs.py", "gen_mcp_docs.py"])
def test_generated_references_are_up_to_date(script: str) -> None:
    """docs/cli.md (from --help) and docs/mcp-tools.md (from tools/list) are current."""
    out = subprocess.run(
        [sys.executable, f"scripts/{script}", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_readme_has_exactly_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert (ROOT / ".ci" / "run").read_text().count("make test") == 1


def test_docs_named_by_the_issue_exist() -> None:
    for name in (
        "file-formats.md",
        "cli.md",
        "exit-codes.md",
        "performance.md",
        "decisions.md",
        "json.md",
    ):
        assert (ROOT / "docs" / name).is_file(), name


def test_schemas_are_valid_json_schema_2020_12() -> None:
    import json

    import jsonschema

    for path in sorted((ROOT / "schemas").glob("*.schema.json")):
        schema = json.loads(path.read_text())
        assert schema["$schema"].endswith("2020-12/schema")
        jsonschema.Draft202012Validator.check_schema(schema)


def test_docs_speak_of_the_product_only() -> None:
    """No doc, nor the help text in docs/cli.md, speaks of issues, sessions or plans."""
    import re

    talk = re.compile(
        r"\bissues? \d+|\bonce issue|\b(next|future|later) session|\bplanned: issue"
        r"|\bwhen .{0,30} lands\b|\bonce .{0,30} lands\b",
        re.IGNORECASE,
    )
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if talk.search(line)
    ]
    assert found == []
