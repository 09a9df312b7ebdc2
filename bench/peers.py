#!/usr/bin/env python3
"""aof against Backlog.md and taskwarrior, in one run, calls alternating.

    .venv/bin/python bench/peers.py [--sizes 1000,10000] [--repeat 9]

Each peer gets a fresh store of N tasks (10 % open, the rest done), seeded the way the peer
itself writes them: aof's task files (bench/run.py), Backlog.md's `backlog/tasks/task-N - Title.md`
files after `backlog init`, taskwarrior's data files through `task import` of its own JSON. Then
every round times create, list, a status change and a search once per peer, the peers' order
rotating each round, so that machine drift hits all of them alike. Medians are printed as a
Markdown table with the ratios. aof runs twice over: each call in a process of its own, and
served by a command server (``AOF_SERVER=1``, a server of the benchmark's own, in a root of
its own). It installs nothing: a peer whose command is not on PATH is skipped with a message
(`apt-get install taskwarrior`, `npm install -g backlog.md`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import AOF, ENV, build_root  # noqa: E402
from serving import command_server  # noqa: E402

OPS = ("create", "list", "status change", "search")
Call = Callable[[int], list[str]]  # round number -> argv


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one process; its output is read and a failure stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


class Peer:
    name = ""
    command = ""

    def __init__(self, home: Path, n: int) -> None:
        self.home, self.n, self.env = home, n, dict(ENV)

    def available(self) -> bool:
        return shutil.which(self.command) is not None

    def seed(self) -> None:
        raise NotImplementedError

    def argv(self, op: str, i: int) -> list[str]:
        raise NotImplementedError

    def run(self, op: str, i: int) -> float:
        return timed(self.argv(op, i), self.home, self.env)


class Aof(Peer):
    name, command = "aof", AOF

    def available(self) -> bool:
        return Path(AOF).exists()

    def seed(self) -> None:
        build_root(self.home, self.n)
        out = subprocess.run(
            [AOF, "--root", str(self.home), "task", "list", "--state", "ready", "--json"],
            capture_output=True,
            env=self.env,
            check=True,
        )
        self.ready = [t["id"] for t in json.loads(out.stdout)]

    def argv(self, op: str, i: int) -> list[str]:
        base = [AOF, "--root", str(self.home), "task"]
        return {
            "create": [*base, "create", f"Peer bench create {i}", "--label", "bench"],
            "list": [*base, "list"],
            "status change": [*base, "claim", self.ready[i], "--agent", "bench"],
            "search": [*base, "list", "--all", "--text", f"task {i + 1}"],
        }[op]


class AofServed(Aof):
    """aof with its calls handed to a command server (its environment is set in
    :func:`bench_size`, once the server is up)."""

    name = "aof (served)"


BACKLOG_TASK = """---
id: TASK-{num}
title: Benchmark task {num}
status: {status}
assignee: []
created_date: '2026-11-21 09:00'
labels:
  - bench
  - group-{group}
dependencies: []
ordinal: {ordinal}
---

## Description

<!-- SECTION:DESCRIPTION:BEGIN -->
Benchmark task body.
<!-- SECTION:DESCRIPTION:END -->
"""


class Backlog(Peer):
    name, command = "Backlog.md", "backlog"

    def seed(self) -> None:
        self.home.mkdir(parents=True)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]
        subprocess.run(["git", "init", "-q"], cwd=self.home, check=True)
        subprocess.run(
            ["backlog", "init", "bench", "--defaults"],
            cwd=self.home,
            env=self.env,
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        tasks, n_open = self.home / "backlog" / "tasks", max(1, self.n // 10)
        for num in range(1, self.n + 1):
            status = "To Do" if num <= n_open else "Done"
            text = BACKLOG_TASK.format(num=num, status=status, group=num % 10, ordinal=num * 1000)
            (tasks / f"task-{num} - Benchmark-task-{num}.md").write_text(text)
        subprocess.run([*git, "add", "-A"], cwd=self.home, check=True)
        subprocess.run([*git, "commit", "-qm", f"{self.n} tasks"], cwd=self.home, check=True)

    def argv(self, op: str, i: int) -> list[str]:
        return {
            "create": ["backlog", "task", "create", f"Peer bench create {i}", "-l", "bench"],
            "list": ["backlog", "task", "list", "--plain"],
            "status change": ["backlog", "task", "edit", str(i + 1), "-s", "In Progress"],
            "search": ["backlog", "search", f"task {i + 1}", "--plain"],
        }[op]


class Taskwarrior(Peer):
    name, command = "taskwarrior", "task"

    def seed(self) -> None:
        self.home.mkdir(parents=True)
        rc = self.home / "taskrc"
        rc.write_text(f"data.location={self.home / 'data'}\nconfirmation=off\nnews.version=2.6.0\n")
        self.env.update(TASKRC=str(rc))
        n_open = max(1, self.n // 10)
        tasks, self.ready = [], []
        for i in range(self.n):
            item = {
                "uuid": str(uuid.uuid4()),
                "description": f"Benchmark task {i}",
                "status": "pending" if i < n_open else "completed",
                "entry": "20261121T090000Z",
                "priority": ("H", "M", "L", "L")[i % 4],
                "tags": ["bench", f"group-{i % 10}"],
            }
            if i >= n_open:
                item["end"] = "20261121T100000Z"
            else:
                self.ready.append(item["uuid"])
            tasks.append(item)
        dump = self.home / "seed.json"
        dump.write_text(json.dumps(tasks))
        subprocess.run(["task", "import", str(dump)], env=self.env, check=True, capture_output=True)

    def argv(self, op: str, i: int) -> list[str]:
        return {
            "create": ["task", "add", f"Peer bench create {i}", "+bench"],
            "list": ["task", "list"],
            "status change": ["task", self.ready[i], "start"],
            "search": ["task", "all", f"/task {i + 1}/"],
        }[op]


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def bench_size(n: int, repeat: int, tmp: Path) -> dict[str, dict[str, float]]:
    with command_server(ENV) as served_env:
        return _bench_size(n, repeat, tmp, served_env)


def _bench_size(
    n: int, repeat: int, tmp: Path, served_env: dict[str, str]
) -> dict[str, dict[str, float]]:
    peers: list[Peer] = []
    for cls in (Aof, AofServed, Backlog, Taskwarrior):
        peer = cls(tmp / f"{cls.__name__.lower()}-{n}", n)
        if not peer.available():
            print(f"skipping {peer.name}: `{peer.command}` is not on PATH", file=sys.stderr)
            continue
        peer.seed()
        if isinstance(peer, AofServed):
            peer.env = dict(served_env)
        peers.append(peer)
    samples = {p.name: {op: [] for op in OPS} for p in peers}
    for i in range(repeat + 1):  # round 0 warms the caches and is not counted
        for op in OPS:
            order = peers[i % len(peers) :] + peers[: i % len(peers)]
            for peer in order:
                elapsed = peer.run(op, i)
                if i:
                    samples[peer.name][op].append(elapsed)
    return {name: {op: median_ms(s) for op, s in ops.items()} for name, ops in samples.items()}


def table(results: dict[int, dict[str, dict[str, float]]]) -> str:
    lines = []
    for n, by_peer in results.items():
        names = list(by_peer)
        ours = [p for p in names if p.startswith("aof")]
        others = [p for p in names if p not in ours]
        pairs = [(p, a) for p in others for a in ours]
        head = ["operation", *names, *(f"{p} / {a}" for p, a in pairs)]
        lines += [f"**{n:,} tasks** (ms, median)", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        for op in OPS:
            cells = [op, *(f"{by_peer[p][op]}" for p in names)]
            cells += [f"{by_peer[p][op] / by_peer[a][op]:.2f}×" for p, a in pairs]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "aof")], env=ENV)
    results = {}
    with tempfile.TemporaryDirectory(prefix="aof-peers-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            results[n] = bench_size(n, args.repeat, Path(tmp))
            print(json.dumps({n: results[n]}), file=sys.stderr, flush=True)
    print(table(results))


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    main()
