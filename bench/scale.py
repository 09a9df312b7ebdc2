#!/usr/bin/env python3
"""Flat in n: every everyday call at 1,000 and at 100,000 tasks, side by side.

    .venv/bin/python bench/scale.py                       # 1,000 and 100,000 tasks
    .venv/bin/python bench/scale.py --sizes 1000,10000 --repeat 7 --keep /var/tmp/aof-scale

Each fleet root is built through the library, as a fleet that ran for two years: 90 % of
the tasks done over 24 months (each entered ``done`` in its own month, so the month shards
are real), 5 % ready, 5 % backlog, 40 knowledge documents; the clock is injected and moved
along, and every 2,000 changes are one commit. Building is a generator, not a measured
path: it runs in ``--workers`` processes and skips fsync. ``--keep DIR`` keeps the roots
and reuses them on the next run (100,000 tasks take several minutes to build).

Then real ``aof`` processes are timed, the sizes alternating call by call so that the
machine's drift hits them alike: create, claim, complete (into ``done/``), show, list (open
tasks), ``fleet overview``, ``plan``, ``knowledge search``; and a warm daemon tick in
process, started as ``aof daemon`` starts (its watcher on) and with ``--no-watch`` (no free
slot, so each tick scans and plans everything and changes nothing). Peak
RSS of each call is read with ``wait4(2)``. Medians go to ``bench/results/scale.json`` and
a Markdown table to stdout. With ``--served`` every call is handed to a command server of
the benchmark's own (``AOF_SERVER=1``; bench/serving.py), warmed by the rounds before, and
the results go to ``scale-served.json`` (the ticks are the same; peak RSS is left out: a
forked child counts the server's pages it shares as its own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import ENV, commit_all, median_ms, peak_rss, run_cli, warm_tick  # noqa: E402
from serving import command_server  # noqa: E402

from aof import Fleet  # noqa: E402
from aof.clock import FixedClock  # noqa: E402

START = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=730)  # two years, 24 month shards
BATCH = 2000
BUILT = ".bench-built"
TOPICS = ("rate limit", "deploy", "rollback", "billing", "latency", "auth", "cache", "queue")


def _kind(i: int, open_pct: int) -> str:
    """done for all but ``open_pct`` % of the tasks, spread evenly; ready and backlog share
    the rest."""
    r = i % 100
    return "ready" if r < open_pct / 2 else "backlog" if r < open_pct else "done"


def _build_share(root: str, n: int, worker: int, workers: int, open_pct: int) -> int:
    """Worker ``worker``'s tasks (every ``workers``-th batch), in time order."""
    os.fsync = lambda fd: None  # a generator: durability is not what is measured here
    clock = FixedClock(START)
    fleet = Fleet(root, actor="human:bench", clock=clock)
    from aof.files import durability

    made = 0
    for first in range(worker * BATCH, n, workers * BATCH):
        last = min(first + BATCH, n)
        message = f"bench: tasks {first}..{last - 1}"
        with fleet.git.batch(message, fleet.actor), durability.deferred():
            for i in range(first, last):
                _make(fleet, clock, i, n, open_pct)
                made += 1
    return made


def _make(fleet: Fleet, clock: FixedClock, i: int, n: int, open_pct: int) -> None:
    """Task ``i`` of ``n``, created at its time; done ones claimed and completed an hour on."""
    clock.set(START + SPAN * (i / n))
    topic = TOPICS[i % len(TOPICS)]
    kind = _kind(i, open_pct)
    task = fleet.create_task(
        f"Fix the {topic} path, case {i}",
        priority=("critical", "high", "normal", "low")[i % 4],
        labels=["bench", f"group-{i % 10}"],
        ready=kind != "backlog",
    )
    if kind == "done":
        clock.advance(600)
        token = str((fleet.claim(task.id, "coder-1").lease or {})["token"])
        clock.advance(3000)
        fleet.complete(task.id, token=token, summary="shipped")


def build(path: Path, n: int, workers: int, open_pct: int = 10) -> Path:
    if (path / BUILT).exists():
        return path
    began = time.perf_counter()
    Fleet.init(path, actor="human:bench")
    text = (path / "aof.yaml").read_text()
    (path / "aof.yaml").write_text(text.replace("max_concurrent: 4 ", "max_concurrent: 0 "))
    commit_all(path, "no slots: ticks plan and change nothing")
    fleet = Fleet(path, actor="human:bench")
    for i in range(40):
        topic = TOPICS[i % len(TOPICS)]
        body = f"How we handle {topic} incidents, note {i}.\n\n" + ("Details. " * 40)
        fleet.knowledge.create_document(
            {"title": f"{topic} runbook {i}", "kind": "runbook"}, body=body
        )
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        shares = [(str(path), n, w, workers, open_pct) for w in range(workers)]
        made = sum(pool.starmap(_build_share, shares))
    assert made == n, (made, n)
    run_cli(path, "task", "list")  # warm the caches, as a working fleet's are
    (path / BUILT).write_text(f"{n} tasks in {time.perf_counter() - began:.0f}s\n")
    print(f"  built {n} tasks in {time.perf_counter() - began:.0f}s", flush=True)
    return path


def one_round(root: Path, old: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Every call once on ``root`` (seconds)."""

    def cli(*args: str) -> tuple[float, str]:
        return run_cli(root, *args, env=env)

    out: dict[str, float] = {}
    out["create"], made = cli("task", "create", "Bench create", "--ready", "--json")
    tid = json.loads(made)["id"]
    out["claim"], claimed = cli("task", "claim", tid, "--agent", "bench", "--json")
    token = json.loads(claimed)["token"]
    out["complete"], _ = cli("task", "complete", tid, "--token", token, "--summary", "ok")
    out["show"], _ = cli("task", "show", old)
    out["list"], _ = cli("task", "list")
    out["overview"], _ = cli("fleet", "overview")
    out["plan"], _ = cli("plan")
    out["search"], _ = cli("knowledge", "search", "--text", "rate limit runbook")
    return out


CALLS = {
    "create": ("`aof task create` (with its commit)", ["task", "create", "rss probe"]),
    "claim": ("`aof task claim`", None),
    "complete": ("`aof task complete` into `done/`", None),
    "show": ("`aof task show` (a task done 2 years ago)", None),
    "list": ("`aof task list` (open tasks)", ["task", "list"]),
    "overview": ("`aof fleet overview`", ["fleet", "overview"]),
    "plan": ("`aof plan`", ["plan"]),
    "search": ("`aof knowledge search`", ["knowledge", "search", "--text", "rate limit runbook"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the roots here")
    ap.add_argument("--build-only", action="store_true", help="build the roots (with --keep)")
    ap.add_argument("--open", type=int, default=10, help="percent of tasks not done (10)")
    ap.add_argument("--served", action="store_true", help="hand every call to a command server")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = tempfile.TemporaryDirectory(prefix="aof-scale-") if args.keep is None else None
    base = Path(tmp.name) if tmp else args.keep
    base.mkdir(parents=True, exist_ok=True)
    name = "fleet-{n}" if args.open == 10 else "fleet-{n}-open{p}"
    roots = {
        n: build(base / name.format(n=n, p=args.open), n, args.workers, args.open) for n in sizes
    }
    if args.build_only:
        return
    olds = {n: Fleet(r).list_tasks(states=["done"])[0]["id"] for n, r in roots.items()}
    served = command_server(ENV) if args.served else contextlib.nullcontext(None)
    with served as env:
        for n, root in roots.items():
            one_round(root, olds[n], env)  # warm-up: bytecode, page cache, the server
        samples: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
        for _ in range(args.repeat):
            for n in sizes:  # alternating: drift hits every size alike
                for name, secs in one_round(roots[n], olds[n], env).items():
                    samples[n].setdefault(name, []).append(secs)
    result: dict[str, Any] = {"sizes": sizes, "repeat": args.repeat, "ms": {}, "rss_mb": {}}
    result["served"] = args.served
    for n in sizes:
        result["ms"][n] = {k: median_ms(v) for k, v in samples[n].items()}
        result["ms"][n]["tick"] = warm_tick(roots[n], args.repeat, watch=True)
        result["ms"][n]["tick_unwatched"] = warm_tick(roots[n], args.repeat)
        if not args.served:
            rss = {k: peak_rss(roots[n], *argv) for k, (_, argv) in CALLS.items() if argv}
            rss["show"] = peak_rss(roots[n], "task", "show", olds[n])
            result["rss_mb"][n] = {k: round(v / 1024, 1) for k, v in rss.items()}
    print_table(result, sizes)
    out = HERE / "results" / ("scale-served.json" if args.served else "scale.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if tmp:
        tmp.cleanup()


def print_table(result: dict[str, Any], sizes: list[int]) -> None:
    lo, hi = sizes[0], sizes[-1]
    head = " | ".join(f"{n:,} tasks" for n in sizes)
    print(f"\n| call | {head} | {hi:,} / {lo:,} |")
    print("|---|" + "---|" * (len(sizes) + 1))
    names = {
        **{k: v[0] for k, v in CALLS.items()},
        "tick": "warm daemon tick (in process, watcher on)",
        "tick_unwatched": "warm daemon tick (`--no-watch`)",
    }
    for key, label in names.items():
        cells = " | ".join(f"{result['ms'][n][key]:.1f}" for n in sizes)
        ratio = result["ms"][hi][key] / max(result["ms"][lo][key], 0.001)
        print(f"| {label} | {cells} | {ratio:.2f} |")
    if result["rss_mb"]:
        peak = {n: max(result["rss_mb"][n].values()) for n in sizes}
        cells = " | ".join(f"{peak[n]:.1f} MB" for n in sizes)
        print(f"| peak RSS of any call above | {cells} | |")
    how = "served by a command server" if result["served"] else "each in its own process"
    print(f"\nmedians of {result['repeat']} rounds (ms), the sizes alternating call by call, {how}")


if __name__ == "__main__":
    main()
