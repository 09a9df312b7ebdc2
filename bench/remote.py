"""Dispatch to a remote worker: from a task made ready to its coder's start on the worker.

A coordinator (daemon and `aof serve`), a redis-server of its own and `aof worker` for two
hosts on loopback, all real processes (the test suite's cluster: tests/support/rqcluster.py),
the demo coder. EVENTS times, one task at a time on an idle cluster: a task is created ready
(the daemon wakes on the file), and the time until its run's `process_start` event (written
by the run's supervisor on the worker when it starts the coder, uploaded to the coordinator)
is taken from the wall clock. The tick's own share is inside that figure.

    .venv/bin/python bench/remote.py [--events 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.redisserver import RedisServer  # noqa: E402
from tests.support.rqcluster import Cluster  # noqa: E402


def started_at(events: Path) -> float | None:
    if not events.exists():
        return None
    for line in events.read_text().splitlines():
        data = json.loads(line)
        if data.get("event") == "process_start":
            return datetime.fromisoformat(str(data["ts"]).replace("Z", "+00:00")).timestamp()
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aof-bench-remote-"))
    redis = RedisServer(tmp / "redis")
    redis.start()
    cluster = Cluster(tmp / "c", redis)
    latencies = []
    try:
        cluster.start_serve()
        for host in ("h1", "h2"):
            cluster.start_worker(host)
        cluster.start_daemon()
        time.sleep(3)  # workers up, the daemon past its first ticks
        for i in range(args.events):
            project = ("p1", "p2")[i % 2]
            t0 = time.time()
            task = cluster.fleet().create_task(f"Latency {i}", project=project, ready=True)
            events = cluster.root / "runs" / task.id / "1" / "events.jsonl"
            cluster.wait(lambda ev=events: started_at(ev) is not None, 60, "the coder's start")
            latencies.append((started_at(events) or t0) - t0)
            cluster.wait(lambda t=task.id: cluster.state(t) == "done", 60, "the task done")
    finally:
        cluster.stop()
        redis.stop()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(
        json.dumps(
            {
                "events": len(latencies),
                "ready_to_coder_start_s_median": round(statistics.median(latencies), 3),
                "ready_to_coder_start_s_p95": round(p95, 3),
                "ready_to_coder_start_s_max": round(latencies[-1], 3),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
