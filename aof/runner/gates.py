"""Command gates, run by aof itself (never by the agent): docs/workflows.md.

A command gate runs ``bash -c RUN`` in the task's worktree, which must be at the head commit
of the task's branch with no uncommitted change to a tracked file (a gate passes on what was
committed, never on what an agent left lying about). Its output goes to
``runs/<task>/<attempt>/gates/<gate>.log``; it passes on exit status 0. It leads a process
group of its own: at ``timeout_s`` the whole group gets SIGTERM, then SIGKILL after
:data:`KILL_GRACE_S`, and the gate fails with the timeout as its reason. While it runs, the
task's lease (taken for the gate: :meth:`aof.Fleet.claim_gate`) is renewed; its result is
recorded with :meth:`aof.Fleet.record_gate`: the commit it ran on, the exit status, the
duration and the log.

:class:`GateRunner` is the daemon's: gates run on threads of their own, so a tick never
waits for one. A gate's process is recorded in ``.aof/gates/<task>.json`` while it runs; a
daemon that starts finds those a dead predecessor left and ends their process groups (the
gate is then run again: its lease expires, and the planner hands it out anew).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import AofError
from ..files.atomic import write_text
from ..journal.git import run as run_git
from ..model.branches import branch_for
from . import worktrees

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..model.task import Task
    from ..model.workflow import Gate

KILL_GRACE_S = 5.0
TAIL_LINES = 60
HOLDER = "aof"


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log (at most 64 KiB read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - 65536, 0))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def prepare(fleet: Fleet, task: Task) -> tuple[Path, str]:
    """The task's worktree (made again from its branch if it is gone) and the head commit it
    is at; AofError naming what is wrong (no project repository, no branch, uncommitted
    changes)."""
    project_slug = task.meta.get("project")
    rows = {p["slug"]: p for p in fleet.registry.rows("project")}
    project = rows.get(str(project_slug)) or {}
    root_path = project.get("root_path")
    if not root_path:
        raise AofError(
            f"a command gate runs in the task's worktree: task {task.id} has no project with "
            "a repository (root_path)"
        )
    repo = Path(str(root_path)).expanduser()
    branch = branch_for(task.id, task.meta)
    head = fleet.branch_head(task)
    if head is None:
        raise AofError(f"branch {branch} does not exist in {repo}: there is no work to check")
    path = worktrees.worktrees_dir(fleet.root, fleet.config.data) / task.id
    worktrees.ensure(path, repo, branch, str(project.get("default_branch") or "main"))
    at = run_git(path, "rev-parse", "HEAD").stdout.strip()
    if at != head:
        raise AofError(
            f"the worktree {path} is at {at[:10]}, not at the head of {branch} ({head[:10]})"
        )
    dirty = run_git(path, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        files = ", ".join(line[3:] for line in dirty.splitlines()[:10])
        raise AofError(
            f"uncommitted changes in the worktree ({files}): commit the work; gates run on "
            "the committed head"
        )
    return path, head


def run_command(
    gate: Gate,
    cwd: Path,
    log: Path,
    env: dict[str, str],
    *,
    beat: Callable[[], None] | None = None,
    beat_every: float = 30.0,
    on_start: Callable[[int], None] | None = None,
) -> tuple[int | None, str | None, float]:
    """Run a command gate: (exit status, error or None, seconds). A gate still running at
    its timeout is ended with its whole process group (exit status None)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with open(log, "wb") as out:
        out.write(f"$ {gate.run}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            ["bash", "-c", str(gate.run)],
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if on_start is not None:
            on_start(proc.pid)
        last = time.monotonic()
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now - began >= gate.timeout_s:
                end_group(proc.pid, proc)
                out.write(f"\n[aof] killed at its timeout of {gate.timeout_s:g} s\n".encode())
                return None, f"timed out after {gate.timeout_s:g} s", now - began
            if beat is not None and now - last >= beat_every:
                last = now
                beat()
    return code, None, time.monotonic() - began


def end_group(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM process group ``pgid``, SIGKILL it after :data:`KILL_GRACE_S`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gate_env(fleet: Fleet, task: Task, gate: Gate, head: str, cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOF_")}
    env.update(gate.env)
    env.update(
        AOF_ROOT=str(fleet.root),
        AOF_TASK_ID=task.id,
        AOF_GATE=gate.name,
        AOF_SHA=head,
        AOF_WORKTREE=str(cwd),
    )
    return env


def run_gate(fleet: Fleet, task_id: str, token: str, gate: Gate) -> Task:
    """Run ``gate`` of ``task_id`` (its lease held with ``token``) and record the result."""
    task = fleet.get_task(task_id)
    attempt = int(task.meta.get("attempts") or 1)
    log = layout.run_dir(fleet.root, task.id, attempt) / "gates" / f"{gate.name}.log"
    rel = str(log.relative_to(fleet.root))
    result: dict[str, Any] = {"gate": gate.name, "log": rel}
    try:
        cwd, head = prepare(fleet, task)
    except AofError as exc:
        log.parent.mkdir(parents=True, exist_ok=True)
        write_text(log, f"[aof] the gate did not run: {exc}\n")
        result.update(error=str(exc), sha=fleet.branch_head(task), tail=str(exc))
        return fleet.record_gate(task.id, token, result)
    ttl = float(fleet.config.scheduler["lease_ttl_s"])
    record = layout.gate_process(fleet.root, task.id)

    def started(pid: int) -> None:
        record.parent.mkdir(parents=True, exist_ok=True)
        data = {"pid": pid, "task": task.id, "gate": gate.name, "token": token}
        write_text(record, json.dumps(data), private=True)  # holds the lease token

    try:
        code, error, seconds = run_command(
            gate,
            cwd,
            log,
            gate_env(fleet, task, gate, head, cwd),
            beat=lambda: _beat(fleet, task.id, token),
            beat_every=max(min(ttl / 4, 60.0), 0.5),
            on_start=started,
        )
    finally:
        record.unlink(missing_ok=True)
    result.update(sha=head, exit_code=code, duration_s=round(seconds, 1), tail=tail(log))
    if error:
        result["error"] = error
    return fleet.record_gate(task.id, token, result)


def _beat(fleet: Fleet, task_id: str, token: str) -> None:
    with contextlib.suppress(AofError):
        fleet.heartbeat(task_id, token)


def end_leftovers(fleet: Fleet) -> list[str]:
    """End the process groups of the gates a dead daemon left running, and give their
    tasks' leases back at once (the gate is run again, not counted as a failure); the tasks
    they were for."""
    ended: list[str] = []
    directory = layout.gate_process(fleet.root, "x").parent
    if not directory.is_dir():
        return ended
    for path in sorted(directory.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(path.read_text(encoding="utf-8"))
            end_group(int(data["pid"]))
            ended.append(str(data["task"]))
            with contextlib.suppress(AofError):
                fleet.release_gate(
                    str(data["task"]),
                    str(data["token"]),
                    reason=f"gate {data.get('gate')}: the daemon running it stopped; run again",
                    count=False,
                )
        path.unlink(missing_ok=True)
    return ended


class GateRunner:
    """The daemon's command gates, each on a thread of its own."""

    def __init__(self, fleet: Fleet, log: Any) -> None:
        self.fleet = fleet  # the daemon's (its thread's): each gate gets a Fleet of its own
        self.log = log
        self.running: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()
        self.wake: Callable[[], None] | None = None  # the daemon's: a result is in
        self.on_result: Callable[[str], None] | None = None  # counts each gate's outcome

    def start(self, task_id: str, gate_name: str) -> str | None:
        """Take the task's lease for ``gate_name`` and run it on a thread; the reason it did
        not start, or None."""
        with self.lock:
            if task_id in self.running:
                return f"gate of {task_id} already running"
        try:
            task = self.fleet.get_task(task_id)
            workflow = self.fleet.workflow_of(task)
            gate = workflow.gate(gate_name) if workflow else None
            if gate is None or gate.kind != "command":
                return f"gate {gate_name} is not a command gate of the task's workflow"
            held = self.fleet.claim_gate(task_id, HOLDER, gate_name)
        except AofError as exc:
            return str(exc)
        token = str((held.lease or {})["token"])
        thread = threading.Thread(
            target=self._run, args=(task_id, token, gate), name=f"gate-{task_id}", daemon=True
        )
        with self.lock:
            self.running[task_id] = thread
        thread.start()
        return None

    def _fleet(self) -> Fleet:
        from ..fleet import Fleet
        from ..journal.audit import Actor

        f = self.fleet
        return Fleet(f.root, clock=f.clock, ids=f.ids, actor=Actor("scheduler", "gates"))

    def _run(self, task_id: str, token: str, gate: Gate) -> None:
        fleet = self._fleet()
        try:
            task = run_gate(fleet, task_id, token, gate)
            last = ((task.meta.get("gate") or {}).get("history") or [{}])[-1]
            if self.on_result is not None:
                self.on_result(str(last.get("outcome")))
            self.log.info(
                "gate %s of %s: %s (task %s)", gate.name, task_id, last.get("outcome"), task.state
            )
        except Exception as exc:  # the lease expires and the gate runs again
            self.log.error("gate %s of %s: %s", gate.name, task_id, exc)
            with contextlib.suppress(AofError):
                fleet.release_gate(task_id, token, reason=f"gate {gate.name}: {exc}")
        finally:
            with self.lock:
                self.running.pop(task_id, None)
            if self.wake is not None:
                self.wake()

    def active(self) -> list[str]:
        with self.lock:
            return sorted(self.running)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self.running.values()):
            thread.join(max(deadline - time.monotonic(), 0))
