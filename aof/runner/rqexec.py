"""Runs on other hosts through RQ on Redis (DESIGN 12).

With ``executor: {kind: rq, redis_url, api_url}`` in aof.yaml, a run whose project is placed
on a host (:attr:`RunSpec.host`) goes to that host's queue ``aof:host:<slug>`` as one RQ job
whose id is the run id (its dot as ``_``: RQ's ids are letters, digits, ``-`` and ``_``), so a
submission repeated after a crash finds the job already there. ``aof worker`` on the host
takes it (:mod:`aof.runner.remote_run`) and reports back through the coordinator's API: its
log bytes into ``runs/<task>/<attempt>/``, its status and how it ended into the report the API
keeps (:mod:`aof.store.remotereports`). :class:`RqExecutor` answers ``status`` from that
report and from RQ's job status; the daemon settles the run as a local one, with the typed
ending its supervisor reported (:attr:`RunStatus.ending`).

RQ never runs a started job twice, and aof never asks it to retry: a run whose worker died
is not renewed by anyone, its lease lapses, and the planner retries the task (a new attempt,
a new job). :class:`HostRouter` is the daemon's executor with ``kind: rq``: placed runs to
RQ, the rest to the :class:`~aof.runner.executor.LocalExecutor`.

``rq`` and ``redis`` are imported here only when used.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import Clock, SystemClock, format_time, parse_time
from ..errors import ConfigError, RemoteError
from ..files.atomic import write_json
from ..files.privatefiles import private_dir
from ..model.executors import queue_name
from ..store import remoteruns
from ..store.runfiles import read_json
from .executor import Executor, LocalExecutor, RunSpec, RunStatus, tail_logs

if TYPE_CHECKING:
    from ..fleet import Fleet

JOB_FUNC = "aof.runner.remote_run.run_job"
KEEP_S = 7 * 86400  # how long Redis keeps an ended job and its result
GONE_AFTER_S = 60.0  # a job missing from Redis this long after its last sign of life: lost


def job_id(run_id: str) -> str:
    """The RQ job id of a run: the run id, its dot as ``_``."""
    return run_id.replace(".", "_")


def serializer() -> Any:
    """JSON, never pickle: what a worker reads from Redis is data, not code."""
    from rq.serializers import JSONSerializer

    return JSONSerializer


class RqExecutor:
    """Runs on other hosts: one RQ job per run on its host's queue."""

    def __init__(
        self,
        root: Path,
        redis_url: str,
        *,
        fleet_name: str = "fleet",
        clock: Clock | None = None,
        connection: Any = None,
    ) -> None:
        self.root = root
        self.redis_url = redis_url
        self.fleet_name = fleet_name
        self.clock = clock or SystemClock()
        self._conn = connection

    def redis(self) -> Any:
        if self._conn is None:
            from redis import Redis

            self._conn = Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=3)
        return self._conn

    # --- submit -----------------------------------------------------------------------------

    def submit(self, spec: RunSpec) -> RunStatus:
        """Queue ``spec`` on its host's queue (once: a job with its id already there is
        kept). RemoteError when Redis cannot be reached (the dispatch settles the attempt
        as start-failed and the planner retries it)."""
        if not spec.host:
            raise ConfigError(f"run {spec.run_id}: no host to send it to")
        if not spec.env.get("AOF_API_URL") or not spec.env.get("AOF_API_TOKEN"):
            raise ConfigError(
                f"run {spec.run_id} on host {spec.host}: a remote run reports through the API; "
                "set executor.api_url in aof.yaml"
            )
        status = RunStatus.starting(spec, pid=None, started=format_time(self.clock.now()))
        if remoteruns.read_record(self.root, spec.run_id) is None:
            self._write_plan(spec)
            record = {**status.to_json(), "job": job_id(spec.run_id)}
            record["queue"] = queue_name(spec.host)
            remoteruns.write_record(self.root, spec.run_id, record)
        try:
            self._enqueue(spec)
        except Exception as exc:
            remoteruns.drop(self.root, spec.run_id)
            where = f"executor.redis_url {self._where()}"
            raise RemoteError(f"{where}: cannot queue run {spec.run_id}: {exc}") from None
        return status

    def _enqueue(self, spec: RunSpec) -> None:
        from rq import Queue
        from rq.job import Job

        conn = self.redis()
        jid = job_id(spec.run_id)
        if Job.exists(jid, connection=conn):
            return
        payload = {"run_id": spec.run_id, "fleet": self.fleet_name, "spec": asdict(spec)}
        queue = Queue(queue_name(str(spec.host)), connection=conn, serializer=serializer())
        queue.enqueue(
            JOB_FUNC,
            payload,
            job_id=jid,
            job_timeout=-1,  # aof's budgets and leases end a run, never RQ's timer
            result_ttl=KEEP_S,
            failure_ttl=KEEP_S,
            description=f"aof run {spec.run_id} ({spec.coder})",
        )

    def _write_plan(self, spec: RunSpec) -> None:
        """The run's folder on the coordinator: ``run.json`` (without the run's API token)
        naming its host, as a local run's would."""
        run_dir = layout.run_dir(self.root, spec.task_id, spec.folder)
        private_dir(layout.runs(self.root))
        private_dir(run_dir)
        for stale in ("outcome.json", "kill.json", "exit_code"):
            (run_dir / stale).unlink(missing_ok=True)
        plan = asdict(spec)
        plan["env"] = {k: v for k, v in spec.env.items() if k != "AOF_API_TOKEN"}
        write_json(run_dir / "run.json", {**plan, "run_id": spec.run_id}, private=True)

    def _where(self) -> str:
        """The Redis URL without its password, for messages."""
        head, at, tail = self.redis_url.rpartition("@")
        return f"{head.partition('://')[0]}://***@{tail}" if at else self.redis_url

    # --- status -----------------------------------------------------------------------------

    def status(self, run_id: str) -> RunStatus | None:
        found = self._statuses([run_id])
        return found[0] if found else None

    def runs(self) -> list[RunStatus]:
        return self._statuses(remoteruns.run_ids(self.root))

    def _statuses(self, run_ids: list[str]) -> list[RunStatus]:
        records = [(r, remoteruns.read_record(self.root, r)) for r in run_ids]
        known = [(r, rec) for r, rec in records if rec is not None]
        if not known:
            return []
        jobs = self._jobs([str(rec.get("job") or job_id(r)) for r, rec in known])
        return [self._status(rec, jobs.get(str(rec.get("job")))) for _r, rec in known]

    def _jobs(self, ids: list[str]) -> dict[str, Any]:
        """Job id -> (status, result) from one pipelined Redis round trip (each job's status
        field only; a finished job's result is fetched on its own, once); every id maps to
        None when Redis cannot be reached (nothing is concluded from a broker's absence)."""
        from redis.exceptions import RedisError
        from rq.job import Job

        try:
            conn = self.redis()
            pipe = conn.pipeline(transaction=False)
            for jid in ids:
                pipe.hget(Job.key_for(jid), "status")
            states = pipe.execute()
        except RedisError:
            return {}
        out: dict[str, Any] = {}
        for jid, raw in zip(ids, states, strict=True):
            if raw is None:
                out[jid] = ("missing", None)
                continue
            state = raw.decode() if isinstance(raw, bytes) else str(raw)
            out[jid] = (state, self._result(conn, jid) if state == "finished" else None)
        return out

    def _result(self, conn: Any, jid: str) -> Any:
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            return Job.fetch(jid, connection=conn, serializer=serializer()).return_value()
        except (RedisError, NoSuchJobError):
            return None

    def _status(self, record: dict[str, Any], job: Any) -> RunStatus:
        from ..store.remotereports import read_status

        run_id = str(record["run_id"])
        status = RunStatus(
            run_id=run_id,
            task_id=str(record.get("task_id")),
            token=str(record.get("token")),
            holder=str(record.get("holder")),
            coder=str(record.get("coder")),
            attempt=int(record.get("attempt") or 0),
            pid=None,
            state="running",
            started=str(record.get("started")),
            host=str(record.get("host")),
        )
        report = read_status(self.root, run_id) or {}  # its pid is one on another host
        job_state, result = job if job is not None else ("unknown", None)
        ending: Any = None
        if report.get("state") == "exited":
            ending = report.get("outcome")
            status.exit_code = report.get("exit_code")
        elif job_state == "finished" and isinstance(result, dict):
            ending = result.get("ending")
            status.exit_code = result.get("exit_code")
        elif job_state in ("failed", "stopped", "canceled"):
            ending = self._stopped_ending(status)
        elif record.get("abandoned") or (job_state == "missing" and self._gone(record, report)):
            status.state = "lost"
            return status
        else:
            return status
        status.state = "exited"
        status.ended = str(report.get("ended") or format_time(self.clock.now()))
        if isinstance(ending, dict) and ending.get("outcome"):
            status.ending = ending
            status.outcome = str(ending["outcome"])
        return status

    def _stopped_ending(self, status: RunStatus) -> dict[str, Any] | None:
        """A job RQ ended without its supervisor's report (stopped from here, or its work
        horse died): killed when a person stopped it (``aof agent kill``'s ``kill.json``),
        else nothing to add (the daemon settles it as exited without reporting)."""
        note = read_json(layout.run_dir(self.root, status.task_id, status.folder) / "kill.json")
        if note is None:
            return None
        by = note.get("by") or "a person"
        return {"outcome": "killed", "reason": f"stopped by {by} (aof agent kill)"}

    def _gone(self, record: dict[str, Any], report: dict[str, Any]) -> bool:
        """A job Redis no longer has (lost with its data, or expired): gone once nothing was
        heard of the run for a while."""
        last = str(report.get("at") or record.get("started"))
        try:
            quiet = (self.clock.now() - parse_time(last)).total_seconds()
        except ValueError:
            return True
        return quiet > GONE_AFTER_S

    # --- cancel, forget, logs ---------------------------------------------------------------

    def cancel(self, run_id: str, force: bool = False) -> None:
        """RQ's stop-job command: the worker kills the run's work horse and its process
        group (the supervisor and the coder with all it started) at once; a job still queued
        is cancelled. ``force`` after a stop that did not end it (its worker is gone): the
        run is given up (``lost``), its lease lapses."""
        from redis.exceptions import RedisError
        from rq.command import send_stop_job_command
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job

        record = remoteruns.read_record(self.root, run_id)
        if record is None:
            return
        now = format_time(self.clock.now())
        if force and record.get("cancelled"):
            remoteruns.update_record(self.root, run_id, abandoned=now)
        elif not record.get("cancelled"):
            remoteruns.update_record(self.root, run_id, cancelled=now)
        jid = str(record.get("job") or job_id(run_id))
        try:
            send_stop_job_command(self.redis(), jid, serializer=serializer())
        except InvalidJobOperation:  # not executing: still queued, or ended
            with contextlib.suppress(InvalidJobOperation, NoSuchJobError, RedisError):
                Job.fetch(jid, connection=self.redis(), serializer=serializer()).cancel()
        except NoSuchJobError:
            remoteruns.update_record(self.root, run_id, abandoned=now)
        except RedisError:
            pass  # the next tick tries again (KILL_AFTER_S) and then gives it up

    def forget(self, run_id: str) -> None:
        """Drop a settled run's record and its job (its logs stay in ``runs/``)."""
        from rq.job import Job

        record = remoteruns.read_record(self.root, run_id) or {}
        remoteruns.drop(self.root, run_id)
        try:
            jid = str(record.get("job") or job_id(run_id))
            Job.fetch(jid, connection=self.redis(), serializer=serializer()).delete()
        except Exception:  # already gone, or Redis away: it expires by itself
            pass

    def logs(self, run_id: str, lines: int = 50) -> str:
        task_id, _, folder = run_id.rpartition(".")
        return tail_logs(layout.run_dir(self.root, task_id, folder or "0"), lines)


class HostRouter:
    """The daemon's executor with ``executor.kind: rq``: a run placed on a host goes to
    :class:`RqExecutor`, any other to the :class:`LocalExecutor`."""

    def __init__(self, local: LocalExecutor, remote: RqExecutor) -> None:
        self.local = local
        self.remote = remote

    def submit(self, spec: RunSpec) -> RunStatus:
        return self.remote.submit(spec) if spec.host else self.local.submit(spec)

    def _of(self, run_id: str) -> Executor:
        known = remoteruns.read_record(self.remote.root, run_id) is not None
        return self.remote if known else self.local

    def status(self, run_id: str) -> RunStatus | None:
        return self._of(run_id).status(run_id)

    def runs(self) -> list[RunStatus]:
        return [*self.local.runs(), *self.remote.runs()]

    def cancel(self, run_id: str, force: bool = False) -> None:
        self._of(run_id).cancel(run_id, force)

    def forget(self, run_id: str) -> None:
        self._of(run_id).forget(run_id)

    def logs(self, run_id: str, lines: int = 50) -> str:
        return self._of(run_id).logs(run_id, lines)

    def pane_pids(self, run_id: str) -> list[int]:
        return [] if self._of(run_id) is self.remote else self.local.pane_pids(run_id)


def executor_for(fleet: Fleet) -> LocalExecutor | HostRouter:
    """The executor aof.yaml's ``executor`` names for this fleet."""
    local = LocalExecutor(fleet.root, fleet.clock)
    section = fleet.config.data.get("executor") or {}
    if section.get("kind") != "rq":
        return local
    remote = RqExecutor(
        fleet.root, str(section["redis_url"]), fleet_name=fleet.config.name, clock=fleet.clock
    )
    return HostRouter(local, remote)


def wait_gone(executor: RqExecutor, run_id: str, timeout: float) -> bool:
    """Wait until a cancelled run is no longer running (tests, ``aof agent kill``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = executor.status(run_id)
        if status is None or status.state != "running":
            return True
        time.sleep(0.2)
    return False
