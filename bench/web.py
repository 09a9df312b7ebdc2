"""The dashboard under load: a fleet root of 10,000 tasks (1,000 open), one `aof serve`.

Measures, against a real server process on loopback:

- the board page (`GET /`) and the API list of open tasks (`GET /api/tasks?open=1`):
  the median and the 95th percentile of REQUESTS requests, timed at the client (loopback
  adds well under a millisecond);
- an idle server's CPU with 5 event streams open (pages left open), over IDLE_S seconds,
  from the process's own CPU times (psutil);
- event to page: a task moved by another process (`Fleet.promote`) until its `task` event
  arrives on an open stream, EVENTS times: median and p95.

    .venv/bin/python bench/web.py [--tasks 10000] [--requests 30] [--idle-s 30] [--events 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import psutil  # noqa: E402
from run import ENV, build_root  # noqa: E402

from aof import Fleet  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start(root: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "aof", "--root", str(root), "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*argv, "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    proc.stderr.readline()
    found = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not found:
        raise RuntimeError(f"aof serve did not start: {line}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, f"http://127.0.0.1:{found.group(1)}"


def percentiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return {"median_ms": round(statistics.median(xs) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


def timed(http: httpx.Client, url: str, n: int) -> dict[str, float]:
    http.get(url, headers=AUTH).raise_for_status()  # warm: caches, imports
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        http.get(url, headers=AUTH).raise_for_status()
        times.append(time.perf_counter() - t0)
    return percentiles(times)


class Stream:
    """One open /api/events stream on a thread; ``arrivals`` maps a task id to when its
    first event after :meth:`expect` came."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ready = threading.Event()
        self.arrivals: dict[str, float] = {}
        self.waiting: set[str] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def expect(self, task_id: str) -> None:
        with self.lock:
            self.waiting.add(task_id)

    def _read(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stopped
            self._follow()

    def _follow(self) -> None:
        with (
            httpx.Client(timeout=None) as http,
            http.stream("GET", f"{self.base}/api/events", headers=AUTH) as answer,
        ):
            for line in answer.iter_lines():
                if line.startswith("data:"):
                    data: dict[str, Any] = json.loads(line[5:])
                    if data.get("kind") == "hello":
                        self.ready.set()
                    tid = data.get("id")
                    with self.lock:
                        if data.get("kind") == "task" and tid in self.waiting:
                            self.waiting.discard(tid)
                            self.arrivals[tid] = time.perf_counter()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--idle-s", type=float, default=30.0)
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    root = build_root(Path(tempfile.mkdtemp(prefix="aof-bench-web-")) / "fleet", args.tasks)
    for path in sorted((root / "tasks" / "ready").glob("*.md"))[: args.events]:
        path.rename(root / "tasks" / "backlog" / path.name)  # to be promoted one by one
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "x"],
        check=True,
    )
    proc, base = start(root)
    result: dict[str, Any] = {"tasks": args.tasks, "open": args.tasks // 10}
    try:
        with httpx.Client(timeout=60) as http:
            if http.get(f"{base}/", headers=AUTH).status_code != 404:
                result["board_page"] = timed(http, f"{base}/", args.requests)
            result["api_open_tasks"] = timed(http, f"{base}/api/tasks?open=1", args.requests)
        streams = [Stream(base) for _ in range(5)]
        for s in streams:
            s.ready.wait(30)
        time.sleep(2)  # let the requests above settle
        me = psutil.Process(proc.pid)
        before = me.cpu_times()
        time.sleep(args.idle_s)
        after = me.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        result["idle_cpu_pct_5_streams"] = round(100 * used / args.idle_s, 2)
        fleet = Fleet(root, actor="human:bench")
        latencies = []
        for task in fleet.list_tasks(states=["backlog"])[: args.events]:
            streams[0].expect(task["id"])
            t0 = time.perf_counter()
            fleet.promote(task["id"])
            deadline = time.monotonic() + 10
            while task["id"] not in streams[0].arrivals and time.monotonic() < deadline:
                time.sleep(0.005)
            latencies.append(streams[0].arrivals.get(task["id"], time.perf_counter()) - t0)
        result["event_to_stream"] = percentiles(latencies)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
