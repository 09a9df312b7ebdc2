#!/usr/bin/env python3
"""aof benchmarks: real CLI processes on generated fleet roots, medians of repeated runs.

    make bench                      # or: .venv/bin/python bench/run.py [--quick | --cli]

Writes bench/results/latest.json and prints a Markdown table for docs/performance.md.
Timings are wall-clock on a shared, noisy machine: read them as medians, never assert them
in tests. Bytecode is compiled first and PYTHONDONTWRITEBYTECODE is cleared for the child
processes, as for an installed wheel (some CI images set it, which adds ~20 ms per call).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from aof import Fleet  # noqa: E402
from aof.clock import SystemIds  # noqa: E402
from aof.files import yamlfast  # noqa: E402

AOF = str(Path(sys.executable).parent / "aof")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(GIT_CONFIG_NOSYSTEM="1")


def build_root(path: Path, n: int, open_share: float = 0.1) -> Path:
    """A fleet root with ``n`` tasks: ``open_share`` of them ready, the rest done (spread over
    twelve month shards); one commit."""
    Fleet.init(path, actor="human:bench")
    ids = SystemIds()
    n_open = max(1, int(n * open_share))
    for i in range(n):
        tid = "t-" + ids.token(8)
        state = "ready" if i < n_open else "done"
        meta = {
            "schema": "aof/task/v1",
            "id": tid,
            "title": f"Benchmark task {i}",
            "priority": ("critical", "high", "normal", "low")[i % 4],
            "created": "2026-11-21T09:00:00Z",
            "created_by": "human:bench",
            "attempts": 0,
            "labels": ["bench", f"group-{i % 10}"],
        }
        text = "---\n" + yamlfast.dump(meta) + "---\n## Objective\n\nBenchmark task body.\n"
        where = path / "tasks" / state
        if state == "done":
            where = where / f"2026-{i % 12 + 1:02d}"
            where.mkdir(exist_ok=True)
        (where / f"{tid}-benchmark-task-{i}.md").write_text(text)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", f"{n} tasks"], cwd=path, check=True)
    return path


def run_cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """(wall seconds, stdout) of one `aof` call (in its own process, unless ``env`` hands it
    to a command server: bench/serving.py)."""
    start = time.perf_counter()
    argv = [AOF, "--root", str(root), *args]
    proc = subprocess.run(argv, capture_output=True, env=env or ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"aof {' '.join(args)} failed: {proc.stderr.decode()}")
    return elapsed, proc.stdout.decode()


# Peak RSS of one call, read with wait4(2) by a small interpreter that starts it: a child
# spawned by a large process reports that process's RSS as its own high-water mark. The
# figure includes what the call's own children (git) used at their peak.
SPAWN = (
    "import os, sys\n"
    "out = os.open(os.devnull, os.O_WRONLY)\n"
    "acts = [(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=acts)\n"
    "print(os.wait4(pid, 0)[2].ru_maxrss)\n"
)


def peak_rss(root: Path, *args: str) -> int:
    """Peak RSS (KiB) of one `aof` call (see :data:`SPAWN`)."""
    argv = [sys.executable, "-c", SPAWN, AOF, "--root", str(root), *args]
    return int(subprocess.run(argv, capture_output=True, text=True, env=ENV).stdout)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def bench_cli(sizes: list[int], repeat: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        root = build_root(tmp / f"fleet-{n}", n)
        row: dict[str, Any] = {}
        for cache in (root / ".aof" / "cache").glob("tasks-*.bin"):
            cache.unlink()
        row["list_all_cold_ms"] = median_ms([run_cli(root, "task", "list", "--all", "--json")[0]])
        run_cli(root, "task", "list", "--all")  # warm the cache
        row["list_all_ms"] = median_ms(
            [run_cli(root, "task", "list", "--all", "--json")[0] for _ in range(repeat)]
        )
        row["list_open_ms"] = median_ms([run_cli(root, "task", "list")[0] for _ in range(repeat)])
        creates, claims, completes = [], [], []
        for _ in range(repeat):
            t, stdout = run_cli(root, "task", "create", "Bench create", "--ready", "--json")
            creates.append(t)
            tid = json.loads(stdout)["id"]
            t, stdout = run_cli(root, "task", "claim", tid, "--agent", "bench", "--json")
            claims.append(t)
            token = json.loads(stdout)["token"]
            t, _ = run_cli(root, "task", "complete", tid, "--token", token, "--summary", "ok")
            completes.append(t)
        row["create_ms"] = median_ms(creates)
        row["claim_ms"] = median_ms(claims)
        row["complete_ms"] = median_ms(completes)
        row["show_ms"] = median_ms([run_cli(root, "task", "show", tid)[0] for _ in range(repeat)])
        row["rss_list_all_kib"] = peak_rss(root, "task", "list", "--all", "--json")
        row["rss_create_kib"] = peak_rss(root, "task", "create", "rss probe")
        out[str(n)] = row
        print(f"  {n:>6} tasks: {row}", flush=True)
    return out


def _claimer(root: str, ids: list[str], worker: int, q: Any) -> None:
    """Race the other workers through the same backlog, each in its own order (as the
    8-process test does); a loser moves on to the next task."""
    import random

    from aof import ClaimConflict

    fleet = Fleet(root, actor=f"agent:b{worker}", commit=False)
    order = list(ids)
    random.Random(worker).shuffle(order)
    won = lost = 0
    for tid in order:
        try:
            fleet.claim(tid, f"b{worker}")
            won += 1
        except ClaimConflict:
            lost += 1
    q.put((won, lost))


def bench_claims(n: int, tmp: Path) -> dict[str, Any]:
    """Library-level claims by 4 processes racing over the same n ready tasks, commits off."""
    root = build_root(tmp / "claims", n, open_share=1.0)  # tmp differs per round
    fleet = Fleet(root)
    ids = [r["id"] for r in fleet.list_tasks(states=["ready"])]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start = time.perf_counter()
    procs = [ctx.Process(target=_claimer, args=(str(root), ids, w, q)) for w in range(4)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    won = sum(w for w, _ in results)
    lost = sum(lost for _, lost in results)
    claimed = {r["id"] for r in fleet.list_tasks(states=["in-progress"])}
    assert won == len(ids) == len(claimed), (won, len(ids), len(claimed))
    return {
        "tasks": len(ids),
        "processes": 4,
        "seconds": round(elapsed, 2),
        "claims_per_s": round(won / elapsed),
        "conflicts": lost,
    }


def bench_git(sizes: list[int], repeat: int, tmp: Path) -> dict[str, Any]:
    """One-file commits at n tracked files: aof's committer vs porcelain vs GitPython."""
    from aof.journal.audit import Actor
    from aof.journal.git import Committer

    out: dict[str, Any] = {}
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]
    for n in sizes:
        repo = tmp / f"git-{n}"
        (repo / "d").mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        for i in range(n):
            (repo / "d" / f"f{i}.md").write_text(f"file {i}\n")
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
        row: dict[str, Any] = {}
        committer = Committer(repo)
        samples = []
        for i in range(repeat):
            p = repo / f"aof-{i}.md"
            p.write_text("x\n")
            t = time.perf_counter()
            committer.commit([p], "aof commit", Actor("agent", "bench"))
            samples.append(time.perf_counter() - t)
        row["aof_committer_ms"] = median_ms(samples)
        samples = []
        for i in range(repeat):
            p = f"porcelain-{i}.md"
            (repo / p).write_text("x\n")
            t = time.perf_counter()
            subprocess.run([*git, "add", "--", p], cwd=repo, check=True)
            subprocess.run([*git, "commit", "-qm", "c", "--", p], cwd=repo, check=True)
            samples.append(time.perf_counter() - t)
        row["git_add_commit_paths_ms"] = median_ms(samples)
        try:
            import git as gitpython  # type: ignore[import-not-found]

            t = time.perf_counter()
            r = gitpython.Repo(repo)
            samples = []
            for i in range(repeat):
                p = f"gp-{i}.md"
                (repo / p).write_text("x\n")
                t = time.perf_counter()
                r.index.add([p])
                r.index.commit("gp")
                samples.append(time.perf_counter() - t)
            row["gitpython_ms"] = median_ms(samples)
            r.close()
        except ImportError:
            row["gitpython_ms"] = None
        out[str(n)] = row
        print(f"  git at {n:>6} files: {row}", flush=True)
    return out


def bench_registry(repeat: int, tmp: Path) -> dict[str, Any]:
    """The registry at scale: 50 teams, 500 projects, 20 hosts, 10,000 tasks (10 % open)."""
    root = build_root(tmp / "registry", 10000)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]

    def card(kind: str, slug: str, fields: str) -> None:
        d = root / f"{kind}s"
        d.mkdir(exist_ok=True)
        (d / f"{slug}.md").write_text(f"---\nschema: aof/{kind}/v1\nslug: {slug}\n{fields}---\n")

    for t in range(50):
        card(
            "team",
            f"team-{t}",
            f"name: Team {t}\nmission: m\nownership: company\nbusiness_priority: {t * 2}\n",
        )
        card(
            "schedule",
            f"team-{t}",
            f"team: team-{t}\ntimezone: Europe/Berlin\n"
            "policy: business_hours\nwindows:\n  - weekday: 0\n    start: '09:00'\n"
            "    end: '17:00'\n",
        )
    for h in range(20):
        card(
            "host",
            f"host-{h}",
            f"name: Host {h}\naddress: h{h}.local\nplatform: linux\ncapacity_slots: 4\n",
        )
    for p in range(500):
        card(
            "project",
            f"proj-{p}",
            f"team: team-{p % 50}\nroot_path: /srv/p{p}\nhost: host-{p % 20}\n",
        )
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "registry"], cwd=root, check=True)
    for kind in ("team", "project", "host", "schedule"):
        run_cli(root, kind, "list", "--json")  # warm the caches
    run_cli(root, "fleet", "overview", "--json")
    out: dict[str, Any] = {}
    out["fleet_overview_ms"] = median_ms(
        [run_cli(root, "fleet", "overview", "--json")[0] for _ in range(repeat)]
    )
    for kind in ("team", "project", "host", "schedule"):
        out[f"{kind}_list_ms"] = median_ms(
            [run_cli(root, kind, "list", "--json")[0] for _ in range(repeat)]
        )
    out["schedule_eval_all_ms"] = median_ms(
        [run_cli(root, "schedule", "eval", "--json")[0] for _ in range(repeat)]
    )
    out["rss_overview_kib"] = peak_rss(root, "fleet", "overview", "--json")
    return out


def commit_all(root: Path, message: str) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]
    subprocess.run([*git, "commit", "-qam", message], cwd=root, check=True)


def _quiet_daemon(root: Path) -> Any:
    from aof.scheduler.daemon import Daemon

    return Daemon(root, watch=False, log_to_stderr=False)


def bench_daemon(repeat: int, tmp: Path, big: int) -> dict[str, Any]:
    """The scheduler's figures: plan cold, warm ticks, dispatch of 100 tasks."""
    out: dict[str, Any] = {}
    root = build_root(tmp / "sched-10k", 10000)  # 1,000 ready, 9,000 done
    for cache in (root / ".aof" / "cache").glob("*.*"):
        cache.unlink()
    out["plan_cold_10k_ms"] = median_ms([run_cli(root, "plan", "--json")[0]])
    out["plan_warm_10k_ms"] = median_ms([run_cli(root, "plan", "--json")[0] for _ in range(repeat)])
    for label, path in (
        ("10k", root),
        (f"{big // 1000}k_done", build_root(tmp / "sched-big", big + 1000, 1000 / (big + 1000))),
    ):
        # No slot (0 pauses dispatch): each tick plans over all 1,000 ready tasks, changes nothing.
        text = (path / "aof.yaml").read_text().replace("max_concurrent: 4 ", "max_concurrent: 0 ")
        (path / "aof.yaml").write_text(text)
        commit_all(path, "no slots")
        out[f"tick_warm_{label}_ms"] = warm_tick(path, repeat)
    # Dispatch: 100 ready tasks, 100 slots, the demo coder: claim + start of every process.
    root = build_root(tmp / "dispatch", 100, 1.0)
    text = (root / "aof.yaml").read_text().replace("max_concurrent: 4 ", "max_concurrent: 100 ")
    (root / "aof.yaml").write_text(text + "coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: '5'}\n")
    commit_all(root, "100 slots")
    daemon = _quiet_daemon(root)
    t = time.perf_counter()
    report = daemon.tick()
    out["dispatch_100_s"] = round(time.perf_counter() - t, 2)
    out["dispatched"] = len(report["dispatched"])
    for run in daemon.executor.runs():
        daemon.executor.cancel(run.run_id, force=True)
    daemon.shutdown()
    return out


def warm_tick(root: Path, repeat: int, *, watch: bool = False) -> float:
    """Median ms of a daemon tick on ``root`` after a first one (which builds the indexes).
    ``watch``: started as ``aof daemon`` starts, its watcher on (without: ``--no-watch``)."""
    from aof.scheduler.daemon import Daemon

    daemon = Daemon(root, watch=watch, log_to_stderr=False)
    if watch:
        daemon.start()
    try:
        daemon.tick()
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            daemon.tick()
            samples.append(time.perf_counter() - t)
    finally:
        daemon.shutdown()
    return median_ms(samples)


def _project_root(tmp: Path, name: str) -> tuple[Path, Fleet]:
    repo = tmp / f"{name}-repo"
    repo.mkdir(parents=True)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=b@x"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True)
    fleet = Fleet.init(tmp / name, actor="human:bench")
    fleet.registry.create("team", "core", {"name": "Core", "mission": "m", "ownership": "company"})
    fleet.registry.create("project", "proj", {"team": "core", "root_path": str(repo)})
    return fleet.root, fleet


def _process_started(run_dir: Path) -> float | None:
    from aof.clock import parse_time

    try:
        for line in (run_dir / "events.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "process_start":
                return parse_time(event["ts"]).timestamp()
    except (OSError, ValueError):
        pass
    return None


def _wait_started(run_dirs: list[Path], timeout: float = 30) -> list[float]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = [_process_started(d) for d in run_dirs]
        if all(g is not None for g in got):
            return [g for g in got if g is not None]
        time.sleep(0.005)
    raise RuntimeError(f"not all of {len(run_dirs)} coders started in {timeout} s")


def bench_agents(repeat: int, tmp: Path) -> dict[str, Any]:
    """The agent runner's figures: claim to coder process start, `aof agent
    fanout 5` to all five started, `aof agent list` with 20 live agents."""
    from aof.runner import launch
    from aof.runner.executor import LocalExecutor
    from aof.runner.sessions import Sessions

    out: dict[str, Any] = {}
    os.environ["AOF_DEMO_SECONDS"] = "30"  # the coders stay alive while measured
    root, fleet = _project_root(tmp, "claim-start")
    project = fleet.registry.rows("project")[0]
    executor = LocalExecutor(root)
    samples = []
    for i in range(repeat):
        task = fleet.create_task(f"Start {i}", project="proj", ready=True)
        t = time.time()
        task = fleet.claim(task.id, "bench")
        spec = launch.run_spec(fleet, task, coder="demo", holder="bench", project=project)
        executor.submit(spec)
        (started,) = _wait_started([root / "runs" / task.id / "1"])
        samples.append(started - t)
    out["claim_to_start_ms"] = median_ms(samples)
    Sessions(fleet).kill("*", force=True)
    root, fleet = _project_root(tmp, "fanout")
    samples = []
    for i in range(max(repeat // 3, 3)):
        t = time.time()
        proc = subprocess.run(
            [AOF, "--root", str(root), "agent", "fanout", "5", f"f{i}", "--prompt", "Go",
             "--project", "proj", "--json"],
            capture_output=True, text=True, env={**ENV, "AOF_DEMO_SECONDS": "30"}, check=True,
        )  # fmt: skip
        rows = json.loads(proc.stdout)["agents"]
        started = _wait_started([root / "runs" / r["task"] / "1" for r in rows])
        samples.append(max(started) - t)
        Sessions(fleet).kill(f"f{i}-*", force=True)
    out["fanout_5_s"] = round(statistics.median(samples), 2)
    root, fleet = _project_root(tmp, "list")
    subprocess.run(
        [AOF, "--root", str(root), "agent", "fanout", "20", "live", "--prompt", "Stay",
         "--project", "proj"],
        capture_output=True, env={**ENV, "AOF_DEMO_SECONDS": "60"}, check=True,
    )  # fmt: skip
    rows = [r for r in Sessions(fleet).listing() if r["state"] == "running"]
    out["list_live_agents"] = len(rows)
    out["agent_list_20_ms"] = median_ms(
        [run_cli(root, "agent", "list", "--json")[0] for _ in range(repeat)]
    )
    Sessions(fleet).kill("live-*", force=True)
    return out


def bench_mcp(repeat: int, tmp: Path, n: int = 10000) -> dict[str, Any]:
    """`aof mcp serve` over stdio on a root of ``n`` tasks: spawn to initialized (the
    official client's handshake done), and the median `tools/call` of a task lookup."""
    import asyncio

    from mcp import Client, StdioServerParameters

    root = build_root(tmp / f"mcp-{n}", n)
    lookup = next((root / "tasks" / "done" / "2026-01").iterdir()).name.split("-benchmark")[0]
    params = StdioServerParameters(command=AOF, args=["--root", str(root), "mcp", "serve"], env=ENV)

    async def once() -> tuple[float, list[float], list[float]]:
        start = time.perf_counter()
        async with Client(params) as c:
            ready = time.perf_counter() - start
            await c.call_tool("aof_task", {"task": lookup})  # warm the caches once
            calls, boards = [], []
            for _ in range(200):
                t = time.perf_counter()
                r = await c.call_tool("aof_task", {"task": lookup})
                calls.append(time.perf_counter() - t)
                assert not r.is_error, r.content
            for _ in range(20):
                t = time.perf_counter()
                await c.call_tool("aof_board", {"limit": 20})
                boards.append(time.perf_counter() - t)
        return ready, calls, boards

    readies, calls, boards = [], [], []
    for _ in range(max(3, repeat // 3)):
        ready, c, b = asyncio.run(once())
        readies.append(ready)
        calls.extend(c)
        boards.extend(b)
    return {
        "tasks": n,
        "ready_ms": median_ms(readies),
        "task_lookup_ms": median_ms(calls),
        "task_lookup_p95_ms": round(sorted(calls)[int(len(calls) * 0.95)] * 1000, 2),
        "board_ms": median_ms(boards),
    }


TOPICS = [
    "deploy",
    "rollback",
    "cluster",
    "database",
    "migration",
    "cache",
    "latency",
    "incident",
    "review",
    "customer",
    "release",
    "pipeline",
    "canary",
    "metrics",
    "alert",
    "dashboard",
    "queue",
    "worker",
    "timeout",
    "retry",
    "budget",
    "schema",
    "index",
    "backup",
    "restore",
    "failover",
    "region",
    "traffic",
    "certificate",
    "secret",
    "rotation",
    "audit",
    "onboarding",
    "pricing",
    "campaign",
    "launch",
    "checklist",
    "runbook",
    "decision",
    "policy",
    "risk",
    "owner",
    "team",
]


def build_knowledge(path: Path, n: int) -> Fleet:
    """A fleet root with ``n`` documents of ~300 words, written directly as files.

    Words follow a Zipf law over a 20,000-word vocabulary (as in real prose: a few words
    everywhere, most rare), with the topic words spread through the ranks, so queries hit
    anything from a handful to thousands of documents."""
    import random

    fleet = Fleet.init(path, commit=False)
    rng = random.Random(7)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
             for _ in range(20000)]  # fmt: skip
    for i, topic in enumerate(TOPICS):
        vocab[20 + i * 97] = topic
    weights = [1 / (r + 1) for r in range(len(vocab))]
    docs = path / "knowledge" / "documents"
    kinds = ("runbook", "decision", "brief", "research_note", "incident_report")
    for i in range(n):
        words = rng.choices(vocab, weights, k=330)
        meta = {
            "schema": "aof/knowledge-document/v1",
            "slug": f"doc-{i:05d}",
            "title": " ".join(words[:5]).capitalize(),
            "summary": " ".join(words[5:20]),
            "kind": kinds[i % len(kinds)],
            "scope": "company",
            "tags": sorted({rng.choice(TOPICS) for _ in range(3)}),
            "created": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
        }
        body = "\n\n".join(" ".join(words[j : j + 60]) for j in range(30, 330, 60))
        (docs / f"doc-{i:05d}.md").write_text(f"---\n{yamlfast.dump(meta)}---\n{body}\n")
    return fleet


def bench_knowledge(repeat: int, tmp: Path, n: int = 10000) -> dict[str, Any]:
    """Index build, search after one change (update included), and query medians."""
    root = tmp / f"knowledge-{n}"
    build_knowledge(root, n)
    k = Fleet(root).knowledge
    t = time.perf_counter()
    built = k.index.refresh()
    first_build = time.perf_counter() - t
    assert built["indexed"] == n, built
    reindex = [run_cli(root, "knowledge", "reindex")[0] for _ in range(max(2, repeat // 5))]
    queries = [
        {"text": "rollback"},
        {"text": '"database migration"'},
        {"text": "fail*"},
        {"text": "canary OR failover", "kinds": ["runbook"]},
        {"text": "incident", "tags": ["Audit"], "limit": 5},
        {"tags": ["deploy", "cache"]},
    ]
    k.search(text="warm")
    walk, searches = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        k.index.scan()
        walk.append(time.perf_counter() - t)
        for q in queries:
            t = time.perf_counter()
            k.search(**q)
            searches.append(time.perf_counter() - t)
    after_change, cli_after_change = [], []
    target = root / "knowledge" / "documents" / "doc-00042.md"
    for i in range(repeat):
        target.write_text(target.read_text().replace("\n\n", f"\n\nedit{i} ", 1))
        t = time.perf_counter()
        found = k.search(text=f"edit{i}")
        after_change.append(time.perf_counter() - t)
        assert found["total"] == 1, found
        target.write_text(target.read_text().replace(f"edit{i} ", "", 1))
        cli_after_change.append(run_cli(root, "knowledge", "search", "--text", "rollback")[0])
    cli_search = [
        run_cli(root, "knowledge", "search", "--text", "rollback")[0] for _ in range(repeat)
    ]
    db = root / ".aof" / "cache" / "knowledge.db"
    return {
        "documents": n,
        "first_build_s": round(first_build, 2),
        "cli_reindex_s": round(statistics.median(reindex), 2),
        "index_mb": round(db.stat().st_size / 1e6, 1),
        "search_ms": median_ms(searches),
        "search_p95_ms": round(sorted(searches)[int(len(searches) * 0.95)] * 1000, 2),
        "freshness_walk_ms": median_ms(walk),
        "search_after_one_change_ms": median_ms(after_change),
        "cli_search_ms": median_ms(cli_search),
        "cli_search_after_change_ms": median_ms(cli_after_change),
    }


def import_times() -> dict[str, float]:
    out = {}
    for label, code in [
        ("python -c pass", "pass"),
        ("import click", "import click"),
        ("import aof.cli", "import aof.cli"),
        ("import git (GitPython)", "import git"),
        ("import ruamel.yaml", "import ruamel.yaml"),
        ("import mcp.server.mcpserver", "import mcp.server.mcpserver"),
    ]:
        samples = []
        for _ in range(7):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True)
            samples.append(time.perf_counter() - t)
        out[label] = median_ms(samples) if proc.returncode == 0 else None
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    if "--mcp" in sys.argv:  # only the MCP server's figures
        with tempfile.TemporaryDirectory(prefix="aof-bench-") as d:
            print(json.dumps({"mcp": bench_mcp(15, Path(d))}, indent=2))
        return
    if "--knowledge" in sys.argv:  # only the knowledge base's figures
        with tempfile.TemporaryDirectory(prefix="aof-bench-") as d:
            print(json.dumps({"knowledge": bench_knowledge(15, Path(d))}, indent=2))
        return
    if "--cli" in sys.argv:  # only the CLI table (100, 1,000 and 10,000 tasks)
        with tempfile.TemporaryDirectory(prefix="aof-bench-") as d:
            print(json.dumps({"cli": bench_cli([100, 1000, 10000], 15, Path(d))}, indent=2))
        return
    if "--agents" in sys.argv:  # only the agent runner's figures
        with tempfile.TemporaryDirectory(prefix="aof-bench-") as d:
            print(json.dumps({"agents": bench_agents(15, Path(d))}, indent=2))
        return
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "aof")],
        check=True,
        env=ENV,
        stdout=subprocess.DEVNULL,
    )
    sizes = [100, 1000] if quick else [100, 1000, 10000]
    repeat = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="aof-bench-") as d:
        tmp = Path(d)
        print("CLI calls (median of", repeat, "runs):", flush=True)
        results: dict[str, Any] = {"cli": bench_cli(sizes, repeat, tmp)}
        print("library claims, 4 processes:", flush=True)
        rounds = [bench_claims(1000 if quick else 4000, tmp / f"r{i}") for i in range(3)]
        rates = sorted(r["claims_per_s"] for r in rounds)
        results["claims"] = {**rounds[0], "claims_per_s": rates[1], "rounds_per_s": rates}
        print(f"  {results['claims']}", flush=True)
        print("git commit strategies:", flush=True)
        results["git"] = bench_git([1000] if quick else [1000, 10000], repeat, tmp)
        print("registry at scale (50 teams, 500 projects, 20 hosts, 10,000 tasks):", flush=True)
        results["registry"] = bench_registry(repeat, tmp)
        print(f"  {results['registry']}", flush=True)
        print("scheduler and daemon:", flush=True)
        results["daemon"] = bench_daemon(repeat, tmp, 10000 if quick else 50000)
        print(f"  {results['daemon']}", flush=True)
        print("agent runner:", flush=True)
        results["agents"] = bench_agents(repeat, tmp)
        print(f"  {results['agents']}", flush=True)
        print("MCP server (stdio, 10,000 tasks):", flush=True)
        results["mcp"] = bench_mcp(repeat, tmp, 1000 if quick else 10000)
        print(f"  {results['mcp']}", flush=True)
        print("knowledge base (10,000 documents):", flush=True)
        results["knowledge"] = bench_knowledge(repeat, tmp, 1000 if quick else 10000)
        print(f"  {results['knowledge']}", flush=True)
        results["imports_ms"] = import_times()
        print(f"  imports: {results['imports_ms']}", flush=True)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
