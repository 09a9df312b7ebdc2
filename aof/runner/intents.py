"""Dispatch intents: a dispatcher that dies between claiming a task and starting its run
does not leave the task held for a lease's lifetime.

A claim and a run's start are two steps (:func:`aof.runner.dispatch.dispatch`). Before it
claims, the dispatcher writes ``.aof/dispatching/<task>.json`` (the task, the holder it
claims for, its own pid and that process's start time, and the clock's time); once the run's
plan is written or its failed start settled, the file goes. A file left behind means the
dispatcher was killed in between. :func:`recover` (the daemon, at start and every tick) then
gives the task back to ready when all of these hold, and otherwise only drops the file:

- the dispatcher's process is gone (the same pid with the same start time is not running);
- the task is in progress, held by the intent's holder, its lease acquired at or after the
  intent (so it is that claim, not a later one);
- no run plan exists for the attempt (``runs/<task>/<attempt>/run.json``): a run that was
  started is left to its supervisor and its lease.

The release is an audited override by the daemon with its reason; the attempt stays
counted, as with any release.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import AofError

if TYPE_CHECKING:
    from ..fleet import Fleet

REASON = "its dispatcher stopped between the claim and the start of the run"


def path_of(root: Path, task_id: str) -> Path:
    return layout.dispatching(root) / f"{task_id}.json"


def declare(fleet: Fleet, task_id: str, holder: str) -> Path:
    """Write the intent to claim ``task_id`` for ``holder`` (before the claim)."""
    from ..clock import format_time
    from ..files.atomic import write_json
    from .executor import _create_time

    path = path_of(fleet.root, task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    data = {"task": task_id, "holder": holder, "pid": pid, "create_time": _create_time(pid)}
    data["at"] = format_time(fleet.clock.now())
    write_json(path, data)
    return path


def clear(path: Path) -> None:
    path.unlink(missing_ok=True)


def recover(fleet: Fleet) -> list[str]:
    """Give back the tasks whose dispatcher died between claim and start (see the module);
    the ids released."""
    where = layout.dispatching(fleet.root)
    try:
        names = sorted(os.listdir(where))
    except FileNotFoundError:
        return []
    released = []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = where / name
        try:
            intent = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            clear(path)
            continue
        if not isinstance(intent, dict):
            clear(path)
            continue
        if _alive(intent):
            continue  # still dispatching (another process): not ours to judge
        if _orphaned(fleet, intent):
            try:
                with fleet.overriding(REASON):
                    fleet.release(str(intent["task"]), reason=REASON)
                released.append(str(intent["task"]))
            except AofError:
                continue  # it moved meanwhile: look again next time
        clear(path)
    return released


def _alive(intent: dict[str, Any]) -> bool:
    from .executor import _same_process

    pid = intent.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    made = intent.get("create_time")
    return _same_process(pid, float(made) if isinstance(made, (int, float)) else None)


def _orphaned(fleet: Fleet, intent: dict[str, Any]) -> bool:
    from ..model.task import State

    with contextlib.suppress(AofError):
        task = fleet.get_task(str(intent.get("task")))
        lease = task.lease or {}
        if task.state != State.IN_PROGRESS or lease.get("holder") != intent.get("holder"):
            return False
        if str(lease.get("acquired") or "") < str(intent.get("at") or "~"):
            return False  # a later claim than the intent's
        plan = layout.run_dir(fleet.root, task.id, int(task.meta.get("attempts") or 0))
        return not (plan / "run.json").exists()
    return False
