"""Runs on other hosts through RQ and Redis, end to end with real processes: a coordinator
(daemon and `aof serve`), a redis-server of the test's own and `aof worker` on two hosts
with their own project clones, running the demo coder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .support.redisserver import RedisServer, redis_server  # noqa: F401 (fixture)
from .support.rqcluster import HOSTS, Cluster, aof

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:  # noqa: F811
    c = Cluster(tmp_path, redis_server, lease_ttl_s=8)
    c.start_serve()
    try:
        yield c
    finally:
        c.stop()


def create(c: Cluster, project: str, n: int, *labels: str) -> list[str]:
    fleet = c.fleet()
    return [
        fleet.create_task(f"{project} {i}", project=project, labels=list(labels), ready=True).id
        for i in range(n)
    ]


def test_tasks_of_two_placed_projects_run_once_each_on_their_hosts(cluster: Cluster) -> None:
    c = cluster
    ids = {"p1": create(c, "p1", 10), "p2": create(c, "p2", 10)}  # 20 tasks
    for host in HOSTS:
        c.start_worker(host)
    c.start_daemon("--until-idle")
    c.wait(lambda: c.procs["daemon"].poll() is not None, 120, "the daemon to be idle")
    assert c.procs["daemon"].returncode == 0, c.tails()
    records = c.audit()
    for host, project in HOSTS.items():
        for tid in ids[project]:
            assert c.state(tid) == "done", c.tails()
            mine = [r for r in records if r["entity"]["id"] == tid]
            assert [r["action"] for r in mine].count("claimed") == 1
            assert sum(1 for r in mine if r.get("to") == "done") == 1
            # one run, on its project's host: its folder there, its logs and plan here
            assert sorted(p.name for p in (c.root / "runs" / tid).iterdir()) == ["1"]
            plan = json.loads((c.root / "runs" / tid / "1" / "run.json").read_text())
            assert plan["host"] == host and "AOF_API_TOKEN" not in plan["env"]
            events = (c.root / "runs" / tid / "1" / "events.jsonl").read_text()
            assert '"process_start"' in events and '"runner_end"' in events
            assert (c.host_dir(host) / "worker" / "runs" / tid / "1").is_dir()
            other = next(h for h in HOSTS if h != host)
            assert not (c.host_dir(other) / "worker" / "runs" / tid).exists()
            # the coder committed in the worktree of its host's clone
            clone = c.host_dir(host) / "src" / project
            log = c.fleet().get_task(tid)
            assert log.state.value == "done"
            branches = (clone / ".git").exists() and list((clone / ".git" / "refs").rglob(tid))
            assert branches, f"no branch of {tid} in {clone}"
    assert not list((c.root / ".aof" / "remote-runs").glob("*.json"))  # all settled


def test_a_cancel_ends_the_remote_process_tree_and_logs_show_while_running(
    cluster: Cluster,
) -> None:
    c = cluster
    (tid,) = create(c, "p1", 1, "demo:hang")
    c.start_worker("h1")
    c.start_daemon()
    events = c.root / "runs" / tid / "1" / "events.jsonl"
    c.wait(lambda: events.exists() and '"process_start"' in events.read_text(), 60, "live log")
    assert c.state(tid) == "in-progress"
    c.wait(lambda: bool(c.report(f"{tid}.1").get("pid")), 30, "the run's status report")
    rows = json.loads(aof(c.root, "agent", "list", "--json").stdout)
    (row,) = [r for r in rows if r["task"] == tid]
    assert row["host"] == "h1" and row["state"] == "running"  # aof top's rows too
    assert "process_start" in aof(c.root, "agent", "logs", tid).stdout
    coder = psutil.Process(int(c.report(f"{tid}.1")["pid"]))  # the coder, on host h1
    assert "demo_coder" in " ".join(coder.cmdline()) or "demo" in coder.name()
    horse = coder.parent()  # the run's supervisor, in the work horse RQ forked
    assert horse is not None
    tree = [horse, coder, *coder.children(recursive=True)]
    aof(c.root, "task", "cancel", tid, "--force", "--reason", "not needed after all")
    _gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"still alive 10 s after the cancel: {alive}\n{c.tails()}"


def test_a_killed_worker_never_duplicates_its_run_and_the_retry_completes_once(
    cluster: Cluster,
) -> None:
    c = cluster
    (tid,) = create(c, "p1", 1)
    path = c.root / "aof.yaml"
    path.write_text(path.read_text().replace("AOF_DEMO_SECONDS: '0.5'", "AOF_DEMO_SECONDS: '6'"))
    c.start_worker("h1")
    c.start_daemon()
    c.wait(lambda: bool(c.report(f"{tid}.1").get("pid")), 60, "the first run to start")
    coder = psutil.Process(int(c.report(f"{tid}.1")["pid"]))
    c.kill("worker-h1")  # the whole `aof worker`, SIGKILL: the host crashed
    _gone, alive = psutil.wait_procs([coder], timeout=10)
    assert not alive, "the run went on without its worker"
    c.start_worker("h1")
    c.wait(lambda: c.state(tid) == "done", 90, "the retry to complete the task")
    records = [r for r in c.audit() if r["entity"]["id"] == tid]
    assert [r["action"] for r in records].count("claimed") == 2  # the lapsed lease, a retry
    assert sum(1 for r in records if r.get("to") == "done") == 1
    assert sorted(p.name for p in (c.root / "runs" / tid).iterdir()) == ["1", "2"]
    first = (c.root / "runs" / tid / "1" / "events.jsonl").read_text()
    assert '"runner_end"' not in first  # the first run never finished: never ran twice
    assert c.fleet().get_task(tid).meta["attempts"] == 2


def test_a_redis_restart_mid_run_loses_nothing(cluster: Cluster) -> None:
    c = cluster
    path = c.root / "aof.yaml"
    path.write_text(path.read_text().replace("AOF_DEMO_SECONDS: '0.5'", "AOF_DEMO_SECONDS: '3'"))
    first = create(c, "p1", 1) + create(c, "p2", 1)
    for host in HOSTS:
        c.start_worker(host)
    c.start_daemon()
    c.wait(lambda: all(c.report(f"{t}.1").get("pid") for t in first), 60, "both runs to start")
    c.redis.restart()
    later = create(c, "p1", 1) + create(c, "p2", 1)
    c.wait(lambda: all(c.state(t) == "done" for t in first + later), 90, "every task done")
    for tid in first + later:
        records = [r for r in c.audit() if r["entity"]["id"] == tid]
        assert [r["action"] for r in records].count("claimed") == 1, tid
        assert sorted(p.name for p in (c.root / "runs" / tid).iterdir()) == ["1"]


def test_a_remote_usage_limit_pauses_the_coder_on_the_coordinator(cluster: Cluster) -> None:
    c = cluster
    (tid,) = create(c, "p1", 1, "demo:limit")
    c.start_worker("h1")
    c.start_daemon()
    pauses = c.root / ".aof" / "coder-pauses.json"
    c.wait(lambda: pauses.exists() and "demo" in json.loads(pauses.read_text()), 60, "a pause")
    assert json.loads(pauses.read_text())["demo"]["task"] == tid
    c.wait(lambda: c.state(tid) == "ready", 30, "the task back in ready")
    assert "paused" in aof(c.root, "why", tid).stdout  # not dispatched again until the reset


def test_aof_agent_kill_on_the_coordinator_ends_a_remote_run(cluster: Cluster) -> None:
    c = cluster
    (tid,) = create(c, "p2", 1, "demo:hang")
    c.start_worker("h2")
    c.start_daemon()
    c.wait(lambda: bool(c.report(f"{tid}.1").get("pid")), 60, "the run's status report")
    coder = psutil.Process(int(c.report(f"{tid}.1")["pid"]))
    tree = [coder, *coder.children(recursive=True)]
    aof(c.root, "agent", "kill", tid)
    _gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"still alive 10 s after the kill: {alive}\n{c.tails()}"
    c.wait(lambda: c.state(tid) != "in-progress", 60, "the killed run settled")
    assert c.state(tid) in ("ready", "blocked", "deadletter")
