"""``aof agent kill``: stop live runs with their whole process trees, and make sure nothing
is left behind.

Each run gets ``kill.json`` in its run folder (who stopped it, when, with which reason),
which its supervisor reads when it settles the run as ``killed``; then the run's process
group is signalled (SIGTERM, or SIGKILL with ``force``). Every process of the run's tree (and
of its tmux pane's) is waited for until a deadline and SIGKILLed after it. After a forced
kill the supervisor had no chance to settle: the kill is recorded here.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import format_time
from ..errors import AofError
from ..files.atomic import write_text
from ..store.runfiles import write_outcome
from .executor import LocalExecutor, RunStatus, descendants
from .shim import kill_tree

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .rqexec import HostRouter


def stop_runs(
    fleet: Fleet,
    executor: LocalExecutor | HostRouter,
    targets: list[tuple[RunStatus, str]],
    *,
    force: bool = False,
    wait_s: float | None = None,
) -> list[dict[str, Any]]:
    """Stop each (run, its agent's branch) of ``targets`` and wait for its processes (at
    most ``wait_s``, default ``runner.kill_grace_s`` + 10 s); a row per run saying whether
    it stopped and which pids are left."""
    import psutil

    grace = float((fleet.config.data.get("runner") or {}).get("kill_grace_s") or 5)
    tree = {run.run_id: _signal(fleet, executor, run, force) for run, _branch in targets}
    deadline = time.monotonic() + (wait_s if wait_s is not None else grace + 10)
    out = []
    for run, branch in targets:
        pids = tree[run.run_id]
        procs = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        _, alive = psutil.wait_procs(procs, timeout=max(deadline - time.monotonic(), 0.1))
        left = []
        for p in alive:  # past the deadline: no mercy, and no orphans
            left.extend(kill_tree(p.pid, 0.5))
        if force:
            settle_forced(fleet, run)
        out.append(
            {
                "agent": branch,
                "task": run.task_id,
                "run": run.run_id,
                "pids": pids,
                "stopped": not left,
                "left": left,
            }
        )
    return out


def _signal(
    fleet: Fleet, executor: LocalExecutor | HostRouter, run: RunStatus, force: bool
) -> list[int]:
    """Leave ``kill.json`` for the run's supervisor and signal the run; its process tree
    (taken before the signal: the pids to wait for)."""
    note: dict[str, Any] = {"by": str(fleet.actor), "at": format_time(fleet.clock.now())}
    note["force"] = force
    if fleet.audit.reason:  # the caller's reason travels to the supervisor, which records it
        note["reason"] = fleet.audit.reason
    run_dir = layout.run_dir(fleet.root, run.task_id, run.folder)
    write_text(run_dir / "kill.json", json.dumps(note) + "\n")
    # A run on another host has no pid here: RQ's stop command ends its tree there.
    pids = [run.pid, *descendants(run.pid)] if run.pid and not run.host else []
    pids += executor.pane_pids(run.run_id)
    executor.cancel(run.run_id, force=force)
    return pids


def settle_forced(fleet: Fleet, run: RunStatus) -> None:
    """After SIGKILL the supervisor could not settle: record the kill here."""
    reason = f"stopped by {fleet.actor} (aof agent kill --force)"
    result: dict[str, Any] = {"outcome": "killed", "reason": reason, "exit_code": -9}
    try:
        task, final = fleet.settle_run(run.task_id, run.token, outcome="killed", reason=reason)
        result.update(outcome=final, task_state=task.state.value, settled=True)
    except AofError as exc:
        result.update(settled=False, settle_error=str(exc))
    write_outcome(layout.run_dir(fleet.root, run.task_id, run.folder), result)
