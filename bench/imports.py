#!/usr/bin/env python3
"""What one CLI call imports and what that costs, for one or more checkouts, calls alternating.

    .venv/bin/python bench/imports.py [--repeat 15] TREE [TREE...]

For `aof task create`, `aof task list` and `aof --help`, run in a fresh fleet root: the modules
loaded (aof's own in brackets), the import time (`python -X importtime`, all modules, and
aof's own), and the wall time of the call without `-X importtime`, medians. The trees' calls
alternate, so machine drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = (["task", "create", "x"], ["task", "list"], ["--help"])
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}


def call(tree: str, root: str, args: list[str], flags: tuple[str, ...] = ()) -> tuple[float, str]:
    """Wall seconds and stderr of `python -m aof --root ROOT ARGS`, ``tree`` first on the path."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *flags, "-m", "aof", "--root", root, *args],
        cwd=root,
        env={**ENV, "PYTHONPATH": tree},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, proc.stderr


def importtime(stderr: str) -> tuple[list[str], int, int]:
    """The modules, total and aof's own import microseconds in one `-X importtime` report."""
    rows = [line[12:].split("|") for line in stderr.splitlines() if line.startswith("import time:")]
    rows = [r for r in rows[1:] if len(r) == 3]
    mods = [r[2].strip() for r in rows]
    own = sum(int(r[0]) for r, m in zip(rows, mods, strict=True) if m.split(".")[0] == "aof")
    return mods, sum(int(r[0]) for r in rows), own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("trees", nargs="+")
    args = ap.parse_args()
    trees = [os.path.abspath(t) for t in args.trees]
    for t in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", t + "/aof"], env=ENV, check=True)
    root = tempfile.mkdtemp(prefix="aof-imports-") + "/fleet"
    subprocess.run(
        [sys.executable, "-m", "aof", "init", root],
        env={**ENV, "PYTHONPATH": trees[0]},
        capture_output=True,
        check=True,
    )
    print("| command | tree | modules (aof's) | import ms (aof's) | wall ms |")
    print("|---|---|---|---|---|")
    for cmd in COMMANDS:
        wall: dict[str, list[float]] = {t: [] for t in trees}
        total: dict[str, list[int]] = {t: [] for t in trees}
        own: dict[str, list[int]] = {t: [] for t in trees}
        mods: dict[str, list[str]] = {}
        for i in range(args.repeat):
            for t in trees if i % 2 else trees[::-1]:
                wall[t].append(call(t, root, cmd)[0])
                mods[t], all_us, own_us = importtime(call(t, root, cmd, ("-X", "importtime"))[1])
                total[t].append(all_us)
                own[t].append(own_us)
        for t in trees:
            n_aof = sum(m.split(".")[0] == "aof" for m in mods[t])
            imp_ms = statistics.median(total[t]) / 1000, statistics.median(own[t]) / 1000
            print(
                f"| `aof {' '.join(cmd)}` | {os.path.basename(t)} | {len(mods[t])} ({n_aof}) "
                f"| {imp_ms[0]:.1f} ({imp_ms[1]:.1f}) "
                f"| {statistics.median(wall[t]) * 1000:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
