"""``aof worktree list|prune``: the worktrees under ``runner.worktrees_dir``, each with its
task's state and the processes alive in it, and the removal of those whose task is finished
(:mod:`aof.runner.worktrees` makes and removes one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import worktrees
from .executor import LocalExecutor

if TYPE_CHECKING:
    from ..fleet import Fleet


def list_worktrees(fleet: Fleet, task_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every worktree under the runner's directory (or those of ``task_ids``), with its
    task's state and live pids."""
    directory = worktrees.worktrees_dir(fleet.root, fleet.config.data)
    if task_ids is None:
        trees = worktrees.scan(directory)
    else:
        trees = [worktrees.read(directory / t) for t in task_ids if (directory / t).is_dir()]
    if not trees:
        return []
    states = fleet.tasks.states_of([t.task_id for t in trees])
    live = worktrees.live_pids([t.path for t in trees])
    running = _running_tasks(fleet)
    return [
        {
            **t.to_json(),
            "state": states.get(t.task_id, "missing"),
            "pids": live[t.path],
            "live": bool(live[t.path]) or t.task_id in running,
        }
        for t in trees
    ]


def prune_worktrees(
    fleet: Fleet, *, task_ids: Sequence[str] | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Remove the worktrees of tasks that are done, cancelled or gone, unless a process is
    alive in one (then it is kept, and said so). Branches stay."""
    out = []
    for row in list_worktrees(fleet, task_ids):
        finished = row["state"] in ("done", "cancelled", "missing")
        if not row["ours"]:
            action, reason = "kept", "not a worktree aof made"
        elif not finished:
            action, reason = "kept", f"task is {row['state']}"
        elif row["live"]:
            pids = ", ".join(str(p) for p in row["pids"]) or "a live run"
            action, reason = "kept", f"an agent is alive in it ({pids})"
        elif dry_run:
            action, reason = "would-remove", f"task is {row['state']}"
        else:
            worktrees.remove(worktrees.read(Path(row["path"])))
            action, reason = "removed", f"task is {row['state']}"
        out.append({**row, "action": action, "reason": reason})
    return out


def _running_tasks(fleet: Fleet) -> set[str]:
    executor = LocalExecutor(fleet.root, fleet.clock)
    return {r.task_id for r in executor.runs() if r.state == "running"}
