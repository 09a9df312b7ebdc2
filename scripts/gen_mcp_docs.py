#!/usr/bin/env python3
"""Generate docs/mcp-tools.md from the MCP server's own tools/list (descriptions, hints,
input and output schemas); --check fails if it is stale (a test runs it), so the tool
reference can never drift from the tools."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "mcp-tools.md"
HEADER = """# MCP tool reference

Generated from the server's `tools/list` by `scripts/gen_mcp_docs.py` (`make docs`; a test
fails when this file is stale). How to connect, examples and the security model:
[mcp.md](mcp.md). Sizes are the bytes of each tool's `tools/list` entry and a token estimate
at 3 bytes a token (`aof mcp tools` prints the same).
"""


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from aof import Fleet
    from aof.mcp.server import make, tool_list

    with tempfile.TemporaryDirectory() as d:
        root = Fleet.init(Path(d) / "fleet", actor="human:docs").root
        agent = tool_list(make(root, profile="agent", actor="human:docs", env={})[0])
        operator = tool_list(make(root, profile="operator", actor="human:docs", env={})[0])
    parts = [HEADER]
    for title, tools in (("Agent profile (`--tools agent`)", agent),
                         ("Operator profile (`--tools operator`)", operator)):  # fmt: skip
        size = len(json.dumps(tools, separators=(",", ":")))
        parts.append(f"\n## {title}\n\n{len(tools)} tools, {size:,} bytes, ~{-(-size // 3):,} "
                     "tokens.\n")  # fmt: skip
        for t in tools:
            hints = t.get("annotations") or {}
            kind = "read-only" if hints.get("readOnlyHint") else "writes"
            if hints.get("idempotentHint"):
                kind += ", idempotent"
            if hints.get("openWorldHint"):
                kind += ", reaches outside the fleet root"
            one = len(json.dumps(t, separators=(",", ":")))
            parts.append(f"\n### `{t['name']}`\n\n{t['description']}\n\n*{kind}; {one:,} bytes*\n")
            parts.append(
                "\nInput:\n\n```json\n" + json.dumps(t["inputSchema"], indent=1) + "\n```\n"
            )
            if "outputSchema" in t:
                parts.append(
                    "\nOutput:\n\n```json\n" + json.dumps(t["outputSchema"], indent=1) + "\n```\n"
                )
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("docs/mcp-tools.md is stale; run scripts/gen_mcp_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
