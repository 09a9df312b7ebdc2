#!/usr/bin/env python3
"""The dashboard's board page on a fleet of 10,000 tasks (1,000 open): server time, median.

    .venv/bin/python bench/web.py [--tasks N]

In process, through the whole application (front gate, session, the read in a worker
thread, the template) with Starlette's TestClient; prints the medians of 20 requests of `/`,
`/?by=team`, `/api/board` and `/attention` after one warm-up (which builds the summary
cache). A benchmark, never a test: the machine may be busy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import build_root  # noqa: E402

TOKEN = "bench-token-0123456789"


def main() -> None:
    from starlette.testclient import TestClient

    from aof.web.app import build_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    n = parser.parse_args().tasks
    with tempfile.TemporaryDirectory() as tmp:
        root = build_root(Path(tmp) / "fleet", n)
        app = build_app(root, tokens={TOKEN: "human:bench"}, actor="human:bench")
        with TestClient(app, base_url="http://testserver") as client:
            client.get("/signin", params={"token": TOKEN})
            print(f"| page ({n} tasks, {n // 10} open) | median ms | bytes |\n|---|---|---|")
            for path in ("/", "/?by=team", "/api/board", "/attention"):
                client.get(path)
                samples = []
                for _ in range(20):
                    start = time.perf_counter()
                    answer = client.get(path)
                    samples.append(time.perf_counter() - start)
                ms = round(statistics.median(samples) * 1000, 1)
                print(f"| `{path}` | {ms} | {len(answer.content)} |")


if __name__ == "__main__":
    main()
