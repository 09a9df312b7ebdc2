#!/usr/bin/env python3
"""What the command server saves: `aof` calls in their own process against the same calls
served (``AOF_SERVER=1``), alternating call by call in one fleet root.

    .venv/bin/python bench/served.py ROOT [--repeat 15]

ROOT is an existing fleet root (bench/scale.py --keep builds ones of 1,000 and 100,000
tasks); it gets the tasks the creates make. The server gets a socket directory of its own
and is stopped at the end. Prints medians in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from serving import AOF, command_server

CALLS = (("task", "create", "Served bench"), ("task", "list"), ("fleet", "overview"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    own_env = dict(os.environ, AOF_SERVER="0")
    own_env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed wheel runs

    with command_server(own_env) as served_env:

        def once(call: tuple[str, ...], served: bool) -> float:
            start = time.perf_counter()
            subprocess.run(
                [AOF, *call],
                cwd=args.root,
                env=served_env if served else own_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            return (time.perf_counter() - start) * 1000

        times: dict[tuple[tuple[str, ...], bool], list[float]] = {}
        for _ in range(args.repeat + 1):  # the first round warms caches, not counted
            for call in CALLS:
                for served in (False, True):
                    times.setdefault((call, served), []).append(once(call, served))
    print(f"{'call':<24} {'own process':>12} {'served':>8}")
    for call in CALLS:
        own = statistics.median(times[(call, False)][1:])
        srv = statistics.median(times[(call, True)][1:])
        print(f"{' '.join(call[:2]):<24} {own:>12.1f} {srv:>8.1f}")


if __name__ == "__main__":
    main()
