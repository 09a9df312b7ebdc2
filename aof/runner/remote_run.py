"""A run on a worker host: the RQ job ``aof worker`` executes (:func:`run_job`).

The same supervisor as a local run (:class:`aof.runner.shim.Shim`: the coder in a worktree
of the project's repository at the project's ``root_path`` on this host, budgets, stuck
detection, the typed outcome), with the coordinator reached through its API instead of a
fleet root (there is none on a worker host):

- the run folder is ``<worker dir>/runs/<task>/<attempt>/`` on this host; the coder's
  environment has ``AOF_API_URL`` and the run's own token in ``AOF_API_TOKEN`` (its
  ``aof task ...`` calls go to the coordinator) and no ``AOF_ROOT``;
- a reporter thread uploads the run's ``events.jsonl``, ``stdout.log`` and ``stderr.log``
  as they grow (each upload names its offset: a retry never doubles a line) and its status
  and meter every few seconds;
- the lease is renewed through the API; a lease the coordinator refuses, or no renewal
  reaching it for a whole lease TTL, stops the coder (``lost-lease``): the task is someone
  else's by then;
- when the coder ends, the ending (outcome, reason, spent, usage, hand-off) is reported with
  state ``exited`` (and returned as the job's result, which RQ keeps): the coordinator
  settles the run;
- if the worker process that forked this job dies (a crash, SIGKILL), the job kills its
  coder at once and ends without a word: nobody renews the lease, it lapses, and the
  planner retries the task elsewhere or later. A run is never left going unsupervised.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .shim import Shim

REPORT_EVERY_S = 1.0  # log uploads
STATUS_EVERY_S = 5.0  # status and meter reports
LOGS = ("events.jsonl", "stdout.log", "stderr.log")


def worker_dir() -> Path:
    """Where ``aof worker`` keeps its run folders (``AOF_WORKER_DIR``, else ``~/.aof/worker``)."""
    return Path(os.environ.get("AOF_WORKER_DIR") or "~/.aof/worker").expanduser()


def run_job(payload: dict[str, Any]) -> dict[str, Any]:
    """The RQ job of one run: write its plan on this host and supervise it; returns its
    ending (RQ keeps it as the job's result)."""
    spec = dict(payload["spec"])
    run_id = str(payload["run_id"])
    base = worker_dir()
    folder = f"{spec['attempt']}-{spec['label']}" if spec.get("label") else str(spec["attempt"])
    run_dir = base / "runs" / str(spec["task_id"]) / folder
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {k: v for k, v in (spec.get("env") or {}).items() if k != "AOF_ROOT"}
    wt = spec.get("worktree")
    if wt:
        wt = {**wt, "path": str(Path(wt["path"]).expanduser())}
        wt["repo"] = str(Path(wt["repo"]).expanduser())
    plan = {**spec, "env": env, "worktree": wt, "tmux": None, "root": str(base), "run_id": run_id}
    path = run_dir / "run.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(plan, f)
    from ..remote.client import RemoteFleet

    client = RemoteFleet(env["AOF_API_URL"], env["AOF_API_TOKEN"])
    # Uploads and status go with the worker's own token when it has one (the run's token
    # ends when the coordinator settles the run; the worker's stays).
    worker_token = os.environ.get("AOF_API_TOKEN")
    reporter = RemoteFleet(env["AOF_API_URL"], worker_token) if worker_token else client
    try:
        return RemoteShim(path, client, reporter).run_remote()
    finally:
        client.close()
        reporter.close()


class _Coordinator:
    """What :class:`Shim` asks of its fleet, asked of the coordinator's API."""

    def __init__(self, shim: RemoteShim) -> None:
        self.shim = shim

    def heartbeat(self, task_id: str, token: str) -> Any:
        return self.shim.client.heartbeat(task_id, token)

    def flag_stuck(self, task_id: str, token: str, *, idle_s: float) -> Any:
        note = f"stuck: the coder printed nothing for {idle_s:.0f} s"
        return self.shim.client.progress(task_id, note, token)


class RemoteShim(Shim):
    """:class:`Shim` on a worker host, reporting through the coordinator's API."""

    def __init__(self, spec_path: Path, client: Any, reporter: Any = None) -> None:
        super().__init__(spec_path)
        self.client = client  # the run's token: its task's lease verbs
        self.reporter = reporter or client  # uploads and status
        self.run_id = str(self.spec["run_id"])
        self.sent: dict[str, int] = dict.fromkeys(LOGS, 0)
        self.last_ok_beat = time.monotonic()
        self._done = threading.Event()
        self._status_at = 0.0

    def _fleet(self) -> Any:
        return _Coordinator(self)

    # --- while it runs ----------------------------------------------------------------------

    def _beat(self) -> None:
        from ..errors import AofError, LeaseError, NotFound

        ttl = float(self.limits.get("lease_ttl_s") or 900)
        try:
            self.client.heartbeat(self.task_id, self.token)
            self.last_ok_beat = time.monotonic()
        except (LeaseError, NotFound) as exc:
            if not self._look_for_report():
                self.stop("lost-lease", str(exc))
        except AofError as exc:
            self.events.write({"event": "runner_error", "message": f"heartbeat: {exc}"})
            silent = time.monotonic() - self.last_ok_beat
            if silent > ttl:
                why = f"no heartbeat reached the coordinator for {silent:.0f} s (TTL {ttl:g} s)"
                self.stop("lost-lease", why)

    def _look_for_report(self) -> bool:
        """Has the agent reported (its task left in-progress)?"""
        from ..errors import AofError

        try:
            task = self.client.get_task(self.task_id)
        except AofError:
            return False
        return str(task.get("state")) != "in-progress"

    def _report_loop(self) -> None:
        while not self._done.wait(REPORT_EVERY_S):
            self._report(final=False)

    def _report(self, *, final: bool) -> None:
        """Upload what the logs gained; the status and meter every few seconds."""
        from ..errors import AofError

        for name in LOGS:
            with contextlib.suppress(AofError, OSError):
                self._upload(name)
        if final or time.monotonic() - self._status_at < STATUS_EVERY_S:
            return
        self._status_at = time.monotonic()
        with contextlib.suppress(AofError, OSError):
            pid = getattr(self.child, "pid", None)
            self.reporter.run_status(self.run_id, state="running", pid=pid, meter=self._meter())

    def _upload(self, name: str) -> None:
        path = self.run_dir / name
        with open(path, "rb") as f:
            f.seek(self.sent[name])
            data = f.read(4 * 1024 * 1024)
        if data:
            size = self.reporter.upload_log(self.run_id, name, data, self.sent[name])
            self.sent[name] = int(size)

    def _meter(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.run_dir / "meter.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # --- the end ----------------------------------------------------------------------------

    def settle(self, code: int | None, outcome: str, reason: str) -> dict[str, Any]:
        """Not settled here: the ending goes to the coordinator, which settles it."""
        from .handoff import handoff_for

        m = self.meter
        wall = time.monotonic() - self.started
        spent = {"tokens": m.tokens, "usd": round(m.cost, 6), "wall_s": round(wall, 1)}
        wt = self.spec.get("worktree")
        ending = {
            "outcome": outcome,
            "reason": reason,
            "spent": spent,
            "usage": self._usage(),
            "handoff": handoff_for(outcome, reason, self.said, wt, self.start_head),
        }
        if outcome == "usage-limited":  # the coordinator pauses the coder until then
            ending["pause_until"] = self._pause_until()
        return {
            "outcome": outcome,
            "reason": reason,
            "exit_code": code,
            "started": self.started_at,
            "ended": _now(),
            "ending": ending,
            "settled": False,
        }

    def _pause_until(self) -> str:
        """When the coder's usage limit resets: what it said, else ``usage_pause_s`` from now."""
        from ..clock import format_time, parse_time

        reset = (self.meter.limit or {}).get("reset_at")
        if reset:
            with contextlib.suppress(ValueError):
                return format_time(parse_time(str(reset)))
        default = float(self.limits.get("usage_pause_s") or 3600)
        return format_time(datetime.now(UTC) + timedelta(seconds=default))

    def _usage(self) -> dict[str, Any]:
        return {**super()._usage(), "host": self.spec.get("host")}

    def run_remote(self) -> dict[str, Any]:
        """Supervise the run (:meth:`Shim.run`) while reporting it; report its end."""
        threading.Thread(target=_watch_parent, args=(self,), daemon=True).start()
        reporter = threading.Thread(target=self._report_loop, daemon=True)
        reporter.start()
        try:
            self.run()
        finally:
            self._done.set()
            reporter.join(timeout=10)
        result = _read(self.run_dir / "outcome.json")
        self._report(final=True)
        self._send_end(result)
        if result.get("outcome") and self._look_for_report():
            self._tidy(result)
        return result

    def _send_end(self, result: dict[str, Any]) -> None:
        """Report the ending; tried for a while (the coordinator may be restarting). If it
        never arrives, RQ keeps it as the job's result, where the coordinator reads it."""
        from ..errors import AofError

        fields = {
            "state": "exited",
            "exit_code": result.get("exit_code"),
            "outcome": result.get("ending"),
            "meter": self._meter(),
            "ended": result.get("ended"),
        }
        for pause in (0, 1, 2, 4, 8):
            time.sleep(pause)
            try:
                self.reporter.run_status(self.run_id, **fields)
                return
            except AofError as exc:
                self.events.write({"event": "runner_error", "message": f"status: {exc}"})

    def _tidy(self, result: dict[str, Any]) -> None:
        """The task left in-progress: its worktree goes when the task is finished."""
        with contextlib.suppress(Exception):
            state = str(self.client.get_task(self.task_id).get("state"))
            if state in ("done", "cancelled"):
                result["worktree_removed"] = self._remove_worktree()


def _watch_parent(shim: RemoteShim) -> None:
    """End the run at once when the worker that forked this job is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    from .shim import kill_tree

    if shim.child is not None:
        kill_tree(shim.child.pid, 0)
    os._exit(70)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    from .meter import utc_stamp

    return utc_stamp()
