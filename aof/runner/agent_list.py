"""``aof agent list``: one row per agent (its live run, or its session's last state) with
CPU, memory, elapsed and idle time, tokens, cost and peak context use.

CPU and memory are of the run's whole process tree (and, in tmux mode, of its pane's), from
one pass over the process table; tokens, cost and the peak context use (percent of the
window, when the coder reports it) are the run's ``meter.json`` while it runs, its sealed
outcome after.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..model.branches import branch_for
from ..model.task import TERMINAL
from ..store.runfiles import latest_run_dir, read_json, read_outcome
from .executor import RunStatus
from .tmux import info as tmux_info

if TYPE_CHECKING:
    from ..fleet import Fleet


def agent_rows(
    fleet: Fleet, runs: list[RunStatus], *, label: str, all_sessions: bool = False
) -> list[dict[str, Any]]:
    """A row per task with a run in ``runs`` (its live run first), then per open task
    labelled ``label`` without one (``all_sessions``: finished ones too); by batch, agent."""
    procs = _process_table() if any(r.state == "running" for r in runs) else {}
    now = time.time()
    rows: dict[str, dict[str, Any]] = {}
    metas = {r["id"]: r for r in fleet.list_tasks()}
    for run in runs:
        row = _run_row(fleet.root, run, metas.get(run.task_id) or {}, procs, now)
        old = rows.get(run.task_id)
        if old is None or run.state == "running" or old["state"] != "running":
            rows[run.task_id] = row
    for tid, meta in metas.items():
        if tid in rows or label not in (meta.get("labels") or []):
            continue
        if meta["state"] in {s.value for s in TERMINAL} and not all_sessions:
            continue
        rows[tid] = _session_row(fleet.root, tid, meta)
    return sorted(rows.values(), key=lambda r: (str(r.get("batch") or ""), str(r["agent"])))


def _run_row(
    root: Path,
    run: RunStatus,
    meta: dict[str, Any],
    procs: dict[int, dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """The row of a run the executor knows (live, or ended and not yet forgotten)."""
    run_dir = layout.run_dir(root, run.task_id, run.folder)
    meter = read_json(run_dir / "meter.json") or {}
    live = run.state == "running"
    pane = tmux_info(run_dir) if live else None
    usage = _usage_of(run.pid, procs, now) if live else _no_usage()
    if pane and pane.get("pane_pid"):  # the coder lives under the tmux server
        usage = _add_usage(usage, _usage_of(int(pane["pane_pid"]), procs, now))
    return {
        "agent": meta.get("branch") or run.task_id,
        "task": run.task_id,
        "branch": branch_for(run.task_id, meta),
        "batch": meta.get("batch"),
        "title": meta.get("title"),
        "coder": run.coder,
        "run": run.run_id,
        "state": "running" if live else (run.outcome or "exited"),
        "pid": run.pid,
        "host": run.host,  # None: this machine
        "tmux": pane["session"] if pane else None,
        **usage,
        "idle_s": _idle(run_dir, meter, now) if live else None,
        "tokens": int(meter.get("tokens") or 0),
        "cost_usd": float(meter.get("cost_usd") or 0.0),
        "context_peak_pct": _pct(meter.get("context_peak_pct")),
    }


def _session_row(root: Path, tid: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The row of an agent session without a run the executor knows: its last run's."""
    last = latest_run_dir(root, tid)
    outcome = read_outcome(last) if last else None
    return {
        "agent": meta.get("branch") or tid,
        "task": tid,
        "branch": branch_for(tid, meta),
        "batch": meta.get("batch"),
        "title": meta.get("title"),
        "coder": meta.get("coder")
        or ((read_json(last / "run.json") or {}).get("coder") if last else None),
        "run": f"{tid}.{last.name}" if last else None,
        "state": meta["state"],
        "pid": None,
        "host": None,
        "tmux": None,
        **_no_usage(),
        "idle_s": None,
        "tokens": int((outcome or {}).get("tokens") or 0),
        "cost_usd": float((outcome or {}).get("cost_usd") or 0.0),
        "context_peak_pct": _pct((outcome or {}).get("context_peak_pct")),
    }


def _pct(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _idle(run_dir: Path, meter: dict[str, Any], now: float) -> float:
    newest = max(_mtime(run_dir / n) for n in ("stdout.log", "stderr.log", "run.json"))
    return round(max(now - newest, 0.0), 1)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _process_table() -> dict[int, dict[str, Any]]:
    import psutil

    table: dict[int, dict[str, Any]] = {}
    for p in psutil.process_iter(["pid", "ppid", "cpu_times", "memory_info", "create_time"]):
        table[p.info["pid"]] = p.info
    return table


def _usage_of(pid: int | None, table: dict[int, dict[str, Any]], now: float) -> dict[str, Any]:
    """CPU (average over its life) and memory of a run's whole process tree."""
    if pid is None or pid not in table:
        return _no_usage()
    children: dict[int, list[int]] = {}
    for p, info in table.items():
        children.setdefault(info.get("ppid") or 0, []).append(p)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    cpu = rss = 0.0
    for p in tree:
        info = table[p]
        times = info.get("cpu_times")
        if times is not None:
            cpu += times.user + times.system
        mem = info.get("memory_info")
        if mem is not None:
            rss += mem.rss
    elapsed = max(now - float(table[pid].get("create_time") or now), 0.001)
    return {
        "cpu_pct": round(100 * cpu / elapsed, 1),
        "mem_mb": round(rss / 2**20, 1),
        "elapsed_s": round(elapsed, 1),
        "procs": len(tree),
    }


def _add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a["cpu_pct"] is None:
        return b
    if b["cpu_pct"] is None:
        return a
    return {
        "cpu_pct": round(a["cpu_pct"] + b["cpu_pct"], 1),
        "mem_mb": round(a["mem_mb"] + b["mem_mb"], 1),
        "elapsed_s": a["elapsed_s"],
        "procs": a["procs"] + b["procs"],
    }


def _no_usage() -> dict[str, Any]:
    return {"cpu_pct": None, "mem_mb": None, "elapsed_s": None, "procs": 0}
