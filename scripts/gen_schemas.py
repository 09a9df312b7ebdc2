#!/usr/bin/env python3
"""Write schemas/<kind>.schema.json for the registry and knowledge nouns from their field
specs; --check fails if a file is stale (a test runs it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aof.knowledge.spec import TYPES  # noqa: E402
from aof.registry import NOUNS  # noqa: E402
from aof.registry.spec import json_schema  # noqa: E402


def main() -> int:
    stale = []
    for noun in [*NOUNS.values(), *TYPES.values()]:
        path = ROOT / "schemas" / f"{noun.name}.schema.json"
        text = json.dumps(json_schema(noun), indent=2) + "\n"
        if "--check" in sys.argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale schemas: {', '.join(stale)}; run scripts/gen_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
