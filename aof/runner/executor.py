"""Executors: where a run's process lives (DESIGN 12).

An :class:`Executor` starts a run from a :class:`RunSpec` and answers for it afterwards:
``submit``, ``status``, ``cancel``, ``logs``, and ``runs`` (every run it knows, for the
daemon's supervision). The scheduler only talks to this interface, so an executor on a
distributed engine (RQ workers, one queue per host: :mod:`aof.runner.rqexec`) serves
beside the local one without touching the planner.

:class:`LocalExecutor` starts the run's supervisor (:mod:`aof.runner.shim`) in its own
session (a process group of its own, so the whole tree can be signalled); the supervisor
writes ``runs/<task-id>/<attempt>/`` (logs, events, outcome) from the ``run.json`` given it.
The agent writes that folder too, so aof reads it back without following links, regular
files only and size-capped (:func:`aof.store.runfiles.read_json`), and trusts an outcome only
from the copy the supervisor sealed under ``.aof/outcomes/`` when it settled the run
(:func:`aof.store.runfiles.read_outcome`).
Each live run is also recorded in ``.aof/runs/<run-id>.json`` (pid and the process's start
time), so a daemon restarted after a crash adopts the runs its predecessor started instead
of starting them again: a pid is trusted only while its start time matches, never after the
pid was reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import layout
from ..clock import Clock, SystemClock, format_time
from ..files.atomic import write_json, write_text
from ..files.privatefiles import private_dir
from ..store.runfiles import outcome_seal, read_outcome

# Agents run niced from their first instruction (``nice`` execs the coder): when a hundred
# of them start at once on a small machine, the control plane (this daemon, people's CLI
# calls) must not queue behind them.
AGENT_NICE = 10
_NICE = ("nice", "-n", str(AGENT_NICE)) if shutil.which("nice") else ()


@dataclass
class RunSpec:
    """One attempt at one task: what to run, where, and with which lease."""

    task_id: str
    attempt: int
    token: str
    holder: str
    coder: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # The run's worktree (path, repo, branch, base, setup, credential_files, quick), made by
    # the run's supervisor before the coder starts; None runs in ``cwd`` or the run folder.
    worktree: dict[str, Any] | None = None
    # Budgets and spent-so-far, lease TTL, stuck thresholds: what the supervisor enforces.
    limits: dict[str, Any] = field(default_factory=dict)
    # The coder's aof.yaml entry (so the supervisor parses its output with the same adapter).
    config: dict[str, Any] = field(default_factory=dict)
    # tmux mode: {"socket", "session"} of the tmux session the coder runs in (aof.runner.tmux);
    # None runs it headless.
    tmux: dict[str, str] | None = None
    # A run that is not an attempt of its task (a reviewer's: ``review<fence>``): its folder
    # is ``runs/<task>/<attempt>-<label>/``.
    label: str = ""
    # The model asked for (None: the coder's default), for the run's cost until the coder
    # names the model it used.
    model: str | None = None
    # The host the run goes to (its project's placement, with ``executor.kind: rq``); None
    # runs it on this machine.
    host: str | None = None

    @property
    def folder(self) -> str:
        """The run's folder name under ``runs/<task>/``: the attempt, and the label if any."""
        return f"{self.attempt}-{self.label}" if self.label else str(self.attempt)

    @property
    def run_id(self) -> str:
        return f"{self.task_id}.{self.folder}"


@dataclass
class RunStatus:
    """What an executor knows about one run."""

    run_id: str
    task_id: str
    attempt: int
    token: str
    holder: str
    coder: str
    pid: int | None
    state: str  # running | exited | lost
    started: str
    exit_code: int | None = None
    ended: str | None = None
    outcome: str | None = None  # what the run's supervisor settled (outcome.json)
    settled: bool = False
    # A run on another host: its host (its supervisor renews its own lease through the API).
    host: str | None = None
    # ... and what its supervisor reported it ended with, for the coordinator to settle:
    # {outcome, reason, spent, usage, handoff} (the arguments of Fleet.settle_run).
    ending: dict[str, Any] | None = None

    @property
    def folder(self) -> str:
        """The run's folder name under ``runs/<task>/`` (see :attr:`RunSpec.folder`)."""
        return self.run_id.rpartition(".")[2] or str(self.attempt)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def starting(cls, spec: RunSpec, *, pid: int | None, started: str) -> RunStatus:
        """The status of ``spec``'s run as it is handed to its executor."""
        return cls(
            run_id=spec.run_id,
            task_id=spec.task_id,
            attempt=spec.attempt,
            token=spec.token,
            holder=spec.holder,
            coder=spec.coder,
            pid=pid,
            state="running",
            started=started,
            host=spec.host,
        )


class Executor(Protocol):
    """Where runs execute. Implementations must be safe to call from the daemon's thread."""

    def submit(self, spec: RunSpec) -> RunStatus: ...

    def status(self, run_id: str) -> RunStatus | None: ...

    def cancel(self, run_id: str, force: bool = False) -> None: ...

    def logs(self, run_id: str, lines: int = 50) -> str: ...

    def runs(self) -> list[RunStatus]: ...

    def forget(self, run_id: str) -> None: ...


class LocalExecutor:
    """Subprocesses on this machine, each in its own session, logs under ``runs/``."""

    def __init__(self, root: Path, clock: Clock | None = None) -> None:
        self.root = root
        self.clock = clock or SystemClock()
        self.records = layout.run_records(root)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def run_dir(self, task_id: str, attempt: int | str) -> Path:
        return layout.run_dir(self.root, task_id, attempt)

    def submit(self, spec: RunSpec) -> RunStatus:
        """Start ``spec``; OSError (for example, the coder's program is missing) propagates."""
        if not spec.argv or shutil.which(spec.argv[0], path=spec.env.get("PATH")) is None:
            # Checked here because `nice` would start and then fail to exec it (exit 127).
            program = spec.argv[0] if spec.argv else "(empty argv)"
            raise FileNotFoundError(f"{program}: no such program (or not executable)")
        run_dir = self.run_dir(spec.task_id, spec.folder)
        private_dir(layout.runs(self.root))  # run plans hold the lease token and coder env
        private_dir(run_dir)
        # A follow-up run in the same folder: the last run's ending and tmux session go.
        for stale in ("outcome.json", "kill.json", "tmux.json", "exit_code"):
            (run_dir / stale).unlink(missing_ok=True)
        outcome_seal(run_dir).unlink(missing_ok=True)
        plan = {**asdict(spec), "root": str(self.root), "run_id": spec.run_id}
        write_json(run_dir / "run.json", plan, private=True)
        # The supervisor (aof.runner.shim) leads a session of its own: it, the coder and
        # all they start are one process group, signalled as a whole.
        with open(run_dir / "shim.log", "ab") as log:
            proc = subprocess.Popen(
                [*_NICE, sys.executable, "-m", "aof.runner.shim", str(run_dir / "run.json")],
                cwd=str(run_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        self._procs[spec.run_id] = proc
        status = RunStatus.starting(spec, pid=proc.pid, started=format_time(self.clock.now()))
        record = {
            **status.to_json(),
            "create_time": _create_time(proc.pid),
            "argv": spec.argv,
            "branch": (spec.worktree or {}).get("branch"),
            "cwd": (spec.worktree or {}).get("path") or spec.cwd or str(run_dir),
        }
        private_dir(self.records.parent)
        private_dir(self.records)
        write_text(self.records / f"{spec.run_id}.json", json.dumps(record), private=True)
        return status

    def _record(self, run_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.records / f"{run_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def status(self, run_id: str) -> RunStatus | None:
        record = self._record(run_id)
        if record is None:
            return None
        status = RunStatus(
            run_id=str(record.get("run_id")),
            task_id=str(record.get("task_id")),
            attempt=int(record.get("attempt") or 0),
            token=str(record.get("token")),
            holder=str(record.get("holder")),
            coder=str(record.get("coder")),
            pid=record.get("pid"),
            state="running",
            started=str(record.get("started")),
        )
        proc = self._procs.get(run_id)
        if proc is not None:
            code = proc.poll()
            if code is not None:
                status.state, status.exit_code = "exited", code
        elif not _same_process(status.pid, record.get("create_time")):
            # Started by an earlier daemon: alive as long as pid and start time still match.
            # Its exit code went to that daemon's successor, init: unknown here.
            status.state = "exited"
        if status.state == "exited":
            status.ended = format_time(self.clock.now())
            result = read_outcome(self.run_dir(status.task_id, status.folder))
            if result is not None:
                status.outcome = result.get("outcome")
                status.settled = bool(result.get("settled"))
                if status.exit_code is None and isinstance(result.get("exit_code"), int):
                    status.exit_code = result["exit_code"]
        return status

    def runs(self) -> list[RunStatus]:
        out = []
        try:
            names = sorted(os.listdir(self.records))
        except FileNotFoundError:
            return []
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                status = self.status(name[: -len(".json")])
                if status is not None:
                    out.append(status)
        return out

    def cancel(self, run_id: str, force: bool = False) -> None:
        """SIGTERM the run's process group (its supervisor stops the coder within
        ``runner.kill_grace_s`` and settles); ``force``: SIGKILL the group and every
        descendant at once. Returns without waiting."""
        status = self.status(run_id)
        if status is None or status.state != "running" or status.pid is None:
            return
        if force:
            for pid in [*descendants(status.pid), *self.pane_pids(run_id)]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(status.pid, signal.SIGKILL if force else signal.SIGTERM)

    def pane_pids(self, run_id: str) -> list[int]:
        """tmux mode: the run's pane (its shell, the coder and all they started), which
        lives under the tmux server, not under the run's supervisor."""
        from .tmux import info

        task_id, _, folder = run_id.rpartition(".")
        pane = info(self.run_dir(task_id, folder or "0"))
        if not pane or not pane.get("pane_pid"):
            return []
        pid = int(pane["pane_pid"])
        return [pid, *descendants(pid)] if _same_process(pid, None) else []

    def forget(self, run_id: str) -> None:
        """Drop a finished run's record (its logs stay in ``runs/``)."""
        proc = self._procs.pop(run_id, None)
        if proc is not None:
            proc.poll()
        (self.records / f"{run_id}.json").unlink(missing_ok=True)

    def logs(self, run_id: str, lines: int = 50) -> str:
        task_id, _, folder = run_id.rpartition(".")
        return tail_logs(self.run_dir(task_id, folder or "0"), lines)


def tail_logs(run_dir: Path, lines: int) -> str:
    """The last ``lines`` of a run folder's ``stdout.log`` and ``stderr.log``."""
    out = []
    for name in ("stdout.log", "stderr.log"):
        try:
            text = (run_dir / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tail = text.splitlines()[-lines:]
        if tail:
            out.append(f"==> {name} <==\n" + "\n".join(tail))
    return "\n".join(out)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (found through psutil, not the process group, so a
    child that started a session of its own is still found)."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _same_process(pid: int | None, create_time: float | None) -> bool:
    """Is ``pid`` still the process that was started (not a zombie, not a reused pid)?"""
    if pid is None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 0.01
    except psutil.Error:
        return False
