"""One coordinator with RUNS runs in flight on other hosts: what a daemon tick costs.

Builds a fleet root with RUNS tasks claimed (in progress, each with its lease) and READY more
waiting, and a daemon whose executor is simulated: it answers like a remote engine would (every
run `running`, a status lookup per run from memory), so the tick's own cost is measured, not
a network's. Each tick advances an injected clock by INTERVAL seconds, so leases come due for
renewal at their normal pace (a quarter of the lease TTL) and are renewed by the tick.

    .venv/bin/python bench/scaleout.py [--runs 1000] [--ready 200] [--ticks 60]

Prints the median and p95 tick time, how many leases a tick renewed, and the executor calls
a tick made (what a remote executor turns into requests).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from aof import Fleet  # noqa: E402
from aof.clock import FixedClock, SystemIds  # noqa: E402
from aof.runner.executor import RunSpec, RunStatus  # noqa: E402
from aof.scheduler.daemon import Daemon  # noqa: E402

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class SimulatedExecutor:
    """Runs that are all still running somewhere else; counts what it is asked."""

    def __init__(self) -> None:
        self.live: dict[str, RunStatus] = {}
        self.calls: Counter[str] = Counter()

    def adopt(self, status: RunStatus) -> None:
        self.live[status.run_id] = status

    def submit(self, spec: RunSpec) -> RunStatus:
        self.calls["submit"] += 1
        status = RunStatus.starting(spec, pid=None, started=START.isoformat())
        self.live[spec.run_id] = status
        return status

    def status(self, run_id: str) -> RunStatus | None:
        self.calls["status"] += 1
        return self.live.get(run_id)

    def cancel(self, run_id: str, force: bool = False) -> None:
        self.calls["cancel"] += 1

    def logs(self, run_id: str, lines: int = 50) -> str:
        return ""

    def runs(self) -> list[RunStatus]:
        self.calls["runs"] += 1
        return list(self.live.values())

    def forget(self, run_id: str) -> None:
        self.live.pop(run_id, None)


def build(base: Path, runs: int, ready: int, clock: FixedClock) -> tuple[Path, SimulatedExecutor]:
    fleet = Fleet.init(base / "fleet", clock=clock, ids=SystemIds(), actor="human:bench")
    text = (fleet.root / "aof.yaml").read_text()
    (fleet.root / "aof.yaml").write_text(
        text.replace("\ndefaults:\n", "\ndefaults:\n  coder: demo\n", 1)
    )
    fleet = Fleet(fleet.root, clock=clock, ids=SystemIds(), actor="human:bench")
    fleet.git.deferred = True  # one commit for the set-up, not one per task
    executor = SimulatedExecutor()
    for i in range(runs + ready):
        task = fleet.create_task(f"Remote task {i}", ready=True, fields={"coder": "demo"})
        if i < runs:
            claimed = fleet.claim(task.id, f"agent-{i % 50}")
            token = str((claimed.lease or {})["token"])
            executor.adopt(
                RunStatus(
                    run_id=f"{task.id}.1",
                    task_id=task.id,
                    attempt=1,
                    token=token,
                    holder=f"agent-{i % 50}",
                    coder="demo",
                    pid=None,
                    state="running",
                    started=START.isoformat(),
                    host=f"host-{i % 10}",  # a remote run renews its own lease
                )
            )
    fleet.git.flush_pending(fleet.actor)
    return fleet.root, executor


def redis_round(runs: int, rounds: int = 20) -> dict[str, Any]:
    """What the real rq executor's ``runs()`` costs a tick with ``runs`` remote runs in flight
    (their records and reports on disk, their jobs in a real redis-server, Debian's): the files,
    and one pipelined round trip fetching every job."""
    import shutil

    if shutil.which("redis-server") is None:
        return {"skipped": "redis-server is not installed"}
    from redis import Redis
    from rq import Queue

    from aof.runner.rqexec import RqExecutor, job_id, serializer
    from aof.store import remoteruns
    from aof.store.remotereports import write_status

    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    from redisserver import RedisServer  # the tests' own: a free port, a temp dir

    server = RedisServer(Path(tempfile.mkdtemp(prefix="aof-bench-redis-")))
    server.start()
    try:
        conn = Redis.from_url(server.url)
        queue = Queue("aof:host:bench", connection=conn, serializer=serializer())
        ids = [job_id(f"t-{i:06d}.1") for i in range(runs)]
        for jid in ids:
            queue.enqueue("aof.runner.remote_run.run_job", {"run": jid}, job_id=jid)
        root = Path(tempfile.mkdtemp())
        for i, jid in enumerate(ids):
            run_id = jid.replace("_", ".")
            record = {"run_id": run_id, "job": jid, "task_id": run_id.split(".")[0], "attempt": 1,
                      "token": "1-x", "holder": "coder", "coder": "demo", "host": "bench",
                      "started": START.isoformat()}  # fmt: skip
            remoteruns.write_record(root, run_id, record)
            write_status(
                root, run_id, {"state": "running", "pid": 1000 + i}, host="bench", now=START
            )
        executor = RqExecutor(root, server.url, connection=conn)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            found = executor.runs()  # the records, the reports, and one Redis round trip
            times.append(time.perf_counter() - t0)
        assert len(found) == runs and all(r.state == "running" for r in found)
        times.sort()
        return {
            "jobs": runs,
            "runs_ms_median": round(statistics.median(times) * 1000, 1),
            "runs_ms_max": round(times[-1] * 1000, 1),
            "round_trips": 1,
        }
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--ready", type=int, default=200)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--interval", type=float, default=5.0)
    args = ap.parse_args()
    clock = FixedClock(START)
    root, executor = build(
        Path(tempfile.mkdtemp(prefix="aof-bench-scale-")), args.runs, args.ready, clock
    )
    daemon = Daemon(root, clock=clock, executor=executor, watch=False, log_to_stderr=False)
    daemon.tick()  # warm caches, as a running daemon has
    times: list[float] = []
    renewed: list[int] = []
    calls: list[int] = []
    submitted = 0
    for _ in range(args.ticks):
        clock.advance(args.interval)
        before = dict(daemon.supervisor.renewed)
        executor.calls.clear()
        t0 = time.perf_counter()
        report: dict[str, Any] = daemon.tick()
        times.append(time.perf_counter() - t0)
        now = daemon.supervisor.renewed
        renewed.append(sum(1 for k, v in now.items() if before.get(k) != v))
        calls.append(sum(executor.calls.values()))
        submitted += executor.calls["submit"]
        del report
    times.sort()
    print(
        json.dumps(
            {
                "rq_executor_runs": redis_round(args.runs),
                "runs_in_flight": len(executor.live),
                "ready_waiting": args.ready,
                "tick_ms_median": round(statistics.median(times) * 1000, 1),
                "tick_ms_p95": round(
                    times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000, 1
                ),
                "tick_ms_max": round(times[-1] * 1000, 1),
                "leases_renewed_per_tick_median": statistics.median(renewed),
                "leases_renewed_per_tick_max": max(renewed),
                "executor_calls_per_tick_median": statistics.median(calls),
                "runs_submitted": submitted,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
