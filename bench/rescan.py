#!/usr/bin/env python3
"""What reading a changed directory's task ids costs (a create after a create, a tick after
a change): a directory of N task files is touched, then its ids are read again.

    .venv/bin/python bench/rescan.py [--files 5000] [--repeat 15]

Prints the median in ms. The directory's cache entry is dropped before each read and its
mtime moved, as another process's write would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aof.model.task import ALPHABET
from aof.store.tasks import TaskStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ready = root / "tasks" / "ready"
        ready.mkdir(parents=True)
        (root / ".aof" / "cache").mkdir(parents=True)
        for i in range(args.files):
            tid = "".join(ALPHABET[(i >> (5 * k)) % 32] for k in range(6))
            (ready / f"t-{tid}-fix-the-rate-limit-path-case-{i}.md").write_text("")
        store = TaskStore(root)
        times = []
        for _ in range(args.repeat):
            store._ids.clear()
            os.utime(ready)
            start = time.perf_counter()
            store.exists("t-zzzzzz")
            times.append((time.perf_counter() - start) * 1000)
    print(f"ids of a changed directory of {args.files} files: {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
