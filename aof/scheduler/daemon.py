"""``aof daemon``: the scheduler's loop over one fleet root.

One daemon per fleet root: ``.aof/daemon.lock`` is an exclusive ``flock`` held for the
daemon's life (the kernel drops it when the process dies, so a crash never leaves a stale
lock); ``.aof/daemon.json`` says who holds it and how its last tick went.

At start: aof changes waiting to be committed and human edits are committed, then the
janitor (``aof doctor --fix``) recovers what a crash left. Runs a previous daemon started
are adopted (``aof.runner.executor``), never started twice.

Each tick, in order:

1. reload ``aof.yaml`` when it changed (a broken one is reported and the last good one kept);
2. commit aof changes deferred by ``git.commit: batch``, and human edits at the paths the
   watcher named (everywhere at start and every ``scheduler.sweep_s``);
3. supervise runs (``aof.scheduler.supervise``): renew the lease of every live run, and
   settle every run that ended: a coder that exited while still holding its lease did not
   report, which counts as a failed attempt (retry with back-off, or deadletter), never as
   done;
4. snapshot -> plan -> apply: expire, block, notify, then hand out the work
   (``aof.scheduler.handout``): command gates (run by aof on threads of their own:
   ``aof.runner.gates``), reviewer runs (``aof.runner.review``), dispatches (claim, then
   submit to the executor: ``aof.runner.dispatch``); all of it one commit whose message carries the
   plan's time, the heartbeat expiries it used and its digest, so ``aof plan --replay REF``
   can recompute it;
5. reconcile AO projects (``aof.ops.reconcile``), each applied action audited; wake the
   forge poller (``aof.forge.poller``: the pr gates' pushes, pull requests and reactions, on
   a thread of its own);
6. say where it stands (``aof.scheduler.idle``): the runs it waits on, or that it is idle and
   what it leaves behind. ``--until-idle`` stops at the first idle tick.
With ``git.remote``, a thread (``aof.scheduler.gitsync``) fetches, merges and pushes.

Between ticks it sleeps ``interval_s``, woken early by a file change (the watcher's hint),
an exited child (SIGCHLD), or SIGTERM/SIGINT, which stop it after the current tick. Runs
keep going and keep their leases: the next daemon adopts them, or their leases expire.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..clock import Clock, IdSource, format_time
from ..errors import AofError, ConfigError, DaemonRunning
from ..files import durability
from ..fleet import Fleet
from ..forge.poller import ForgePoller
from ..journal.audit import Actor
from ..journal.gitupkeep import GitUpkeep
from ..notify.worker import DeliveryWorker
from ..planner.memo import PlanMemo
from ..runner.executor import Executor
from ..runner.gates import GateRunner, end_leftovers
from ..runner.rqexec import executor_for
from ..service.scheduling import TICK_TRAILER
from ..store.daemonstate import LOCK_NAME, daemon_info, take_lock, write_state
from .daemonlog import daemon_logger, state_of
from .gitsync import GitSync
from .handout import Handout
from .idle import Outlook, assess
from .supervise import RunSupervisor

if TYPE_CHECKING:
    from .signals import SignalWake

DEBOUNCE_S = 0.2
FORGE = Actor("scheduler", "forge")
GATE_JOIN_S = 60.0  # a stopping daemon waits this long for running command gates
SWEEP_PATHS = 200  # more changed paths than this: one sweep of everything


class Daemon:
    """The scheduler loop of one fleet root (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        interval_s: float | None = None,
        watch: bool = True,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        executor: Executor | None = None,
        ao: Any = None,
        log_to_stderr: bool = True,
        coder: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.actor = Actor("scheduler", "daemon")
        self.fleet = Fleet(root, clock=clock, ids=ids, actor=self.actor)
        self.fleet.git.deferred = False  # the daemon is the one that commits deferred changes
        self.root = self.fleet.root
        self.coder_override = coder
        self._override_coder()
        self.interval_override = interval_s
        self.want_watch = watch
        self.executor: Executor = executor or executor_for(self.fleet)
        self.ao = ao
        self.log = daemon_logger(self.root, f"aof.daemon.{id(self)}", log_to_stderr)
        self.fleet.git.warn = self.log.warning  # git's index left behind: said, not fatal
        self.notices = DeliveryWorker.of(self.fleet, self.log, os.environ)  # notifications
        self.wake = threading.Event()
        self.signals: SignalWake | None = None  # relays signals to wake (install_signals)
        self.stopping = False
        self.ticks = 0
        self.started = format_time(self.fleet.clock.now())
        self.watcher: Any = None
        self.watch_note = "off"
        self._lock_fd: int | None = None
        self.supervisor = RunSupervisor(self.fleet, self.executor, self.log)
        self.gates = GateRunner(self.fleet, self.log)
        self.gates.wake = self.wake.set  # a gate's result: plan again now
        self.forge = ForgePoller(Fleet(self.root, clock=clock, ids=ids, actor=FORGE), self.log)
        self.tick_lock = threading.Lock()  # a git sync's merge never lands mid-tick
        self.plans = PlanMemo()  # a quiet tick's plan is the last one's (aof.planner.memo)
        self.upkeep = GitUpkeep(self.root)
        self.gitsync = GitSync(
            Fleet(self.root, clock=clock, ids=ids, actor=Actor("system", "sync")),
            self.log,
            hold=lambda: self.tick_lock,
            wake_daemon=self.wake.set,
            config=lambda: self.fleet.config,
        )
        self.metrics_port = metrics_port  # serve Prometheus /metrics (aof.scheduler.metrics)
        self.metrics: Any = None
        self.metrics_bound: int | None = None  # the port /metrics listens on
        self._reported: dict[str, Any] = {}
        self._hosts_down: set[str] = set()
        self._last_sweep = 0.0
        self._young = False  # the last sweep left a hand edit too fresh to judge
        self._bad_config: int | None = None
        self._last_status = ""
        self.last: dict[str, Any] = {}
        self.outlook: Outlook | None = None  # where the last tick left the daemon

    # --- set-up and tear-down ---------------------------------------------------------------

    def _override_coder(self) -> None:
        """``aof daemon --coder C``: C replaces the fleet's default coder for this daemon."""
        if not self.coder_override:
            return
        from ..model.config import Config

        data = dict(self.fleet.config.data)
        data["defaults"] = {**data["defaults"], "coder": self.coder_override}
        self.fleet.config = Config(self.root, data)

    @property
    def interval(self) -> float:
        if self.interval_override is not None:
            return float(self.interval_override)
        return float(self.fleet.config.scheduler["interval_s"])

    def acquire(self) -> None:
        """Take the root's daemon lock; DaemonRunning (naming the holder) if it is taken."""
        fd = take_lock(self.root)
        if fd is None:
            info = daemon_info(self.root)
            raise DaemonRunning(
                f"a daemon already runs on {self.root}: pid {info.get('pid', '?')} on "
                f"{info.get('host', '?')}, started {info.get('started', '?')} "
                f"(lock .aof/locks/{LOCK_NAME}; `aof daemon status` shows it)"
            ) from None
        self._lock_fd = fd

    def start(self) -> None:
        self.acquire()
        self.notices.start()
        self.forge.start()
        self.gitsync.start()
        if self.metrics_port is not None:
            from .metrics import DaemonMetrics

            self.metrics = DaemonMetrics(self)
            self.gates.on_result = self.metrics.count_gate
            port = self.metrics.serve(self.metrics_port)
            self.metrics_bound = port
            self.log.info("metrics on http://127.0.0.1:%d/metrics", port)
        self.log.info(
            "aof daemon %s starting on %s (pid %d, interval %gs)",
            __version__,
            self.root,
            os.getpid(),
            self.interval,
        )
        self._commit_leftovers(None)
        for task_id in end_leftovers(self.fleet):
            self.log.info("ended the command gate of %s a previous daemon left running", task_id)
        report = self.fleet.doctor(fix=True)
        for p in report.problems:
            level = logging.INFO if p.fixed else logging.WARNING
            self.log.log(level, "janitor: %s: %s", p.path, p.message)
        adopted = [r for r in self.executor.runs() if r.state == "running"]
        if adopted:
            self.log.info(
                "adopted %d run(s) a previous daemon started: %s",
                len(adopted),
                ", ".join(r.run_id for r in adopted),
            )
        if self.want_watch:
            from .watch import watch_fleet

            self.watcher, self.watch_note = watch_fleet(self.fleet, self.wake, self.log)
            if self.watcher is None:
                self.notices.degraded("watcher", self.watch_note)
        self._write_state("running")

    def install_signals(self) -> None:
        """SIGTERM/SIGINT stop after the current tick, SIGCHLD wakes the loop, SIGUSR1 dumps
        every thread's stack (:func:`aof.scheduler.signals.install`: handlers take no lock)."""
        from .signals import install

        self.signals = install(self)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def shutdown(self) -> None:
        self.forge.stop()
        self.gitsync.stop()
        self.upkeep.wait(5)  # git gc --auto detaches what takes long; its start is brief
        if self.signals is not None:
            self.signals.close()
        if self.metrics is not None:
            self.metrics.stop()
        self.notices.stop()  # sends what is due first (a few seconds at most)
        if self.watcher is not None:
            self.watcher.stop()
        if self.gates.active():
            self.log.info("waiting for command gate(s) of %s", ", ".join(self.gates.active()))
            self.gates.join(GATE_JOIN_S)
        live = [r.run_id for r in self.executor.runs() if r.state == "running"]
        if live:
            self.log.info(
                "%d run(s) keep going and keep their leases: %s", len(live), ", ".join(live)
            )
        self._write_state("stopped")
        self.log.info("aof daemon stopped after %d tick(s)", self.ticks)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        for h in list(self.log.handlers):
            h.close()
            self.log.removeHandler(h)

    def run(self, *, once: bool = False, until_idle: bool = False) -> int:
        """Tick until stopped (or once, or until idle: none of its runs is alive and nothing
        can be dispatched now; ``self.outlook`` says what it left behind); the exit status."""
        self.start()
        try:
            while not self.stopping:
                report = self.notices.guard("tick", self.tick)
                # Idle leaves no hand edit behind: one too fresh to judge waits a tick.
                if once or (until_idle and report["idle"] and not self._young):
                    break
                self._sleep()
        finally:
            self.shutdown()
        return 0

    def _sleep(self) -> None:
        woke = self.wake.wait(self.interval)
        if woke and not self.stopping:
            time.sleep(DEBOUNCE_S)  # let a burst of file events settle into one tick
        self.wake.clear()

    # --- one tick ---------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """One pass (under the tick lock, which a git sync's merge takes too)."""
        with self.tick_lock:
            report = self._tick()
        self.gitsync.poke()  # fetch, merge and push when git.sync_s is due
        self.upkeep.poke()  # git gc --auto in the background, once an hour
        return report

    def _tick(self) -> dict[str, Any]:
        began = time.perf_counter()
        self.ticks += 1
        n = self.ticks
        self._reload_config()
        changed = self.watcher.drain() if self.watcher is not None else set()
        if self.fleet.tasks.seen is not None:
            self.fleet.tasks.seen.changed(changed)
        self._commit_leftovers(changed)
        f = self.fleet
        report: dict[str, Any] = {
            "tick": n,
            "dispatched": [],
            "not_started": [],
            "settled": [],
            "applied": [],
        }
        with f.git.batch(f"daemon tick {n}: runs", self.actor), durability.deferred():
            self.supervisor.supervise(report)
        self._watch_hosts(report)
        if report["settled"]:
            settled = sorted({s["run"].rpartition(".")[0] for s in report["settled"]})
            self.supervisor.clean_worktrees(settled)
        ref = f.git.branch_and_head()[1] if f.git.enabled else None
        snap = f.snapshot()
        planned = self.plans.plan(snap, f.clock.now(), f.config.data)  # the last, if it holds
        digest = self.plans.digest(planned)
        result: dict[str, Any] = dict(planned)
        with f.git.batch(f"daemon tick {n}", self.actor) as batch, durability.deferred():
            batch.trailers = {
                "Plan-At": result["at"],
                "Plan-Base": ref or "none",
                "Plan-Heartbeats": json.dumps(snap["heartbeats"], sort_keys=True),
                "Plan-Pauses": json.dumps(snap["coder_pauses"], sort_keys=True),
                "Plan-Coders-Missing": json.dumps(snap["coders_missing"], sort_keys=True),
                **({"Plan-Coder": self.coder_override} if self.coder_override else {}),
                TICK_TRAILER: digest,
            }
            for done in f.apply(result, actor=self.actor):
                report["applied"].append(done)
                level = logging.INFO if done["ok"] else logging.WARNING
                self.log.log(level, "%s %s: %s", done["kind"], done["task"], done.get("reason"))
            self._dispatch(result, report)
            self._reconcile(report)
        report["ms"] = round((time.perf_counter() - began) * 1000, 1)
        if self.metrics is not None:
            self.metrics.count_tick(report)
        report["at"] = result["at"]
        report["digest"] = digest
        report["commit"] = batch.commit
        outlook = assess(
            snap,
            result,
            self.executor.runs(),
            started=[d["run"] for d in report["dispatched"]],
            not_started=report["not_started"],
            applied=report["applied"],
            gates=self.gates.active(),
        )
        self.outlook = outlook
        report["runs"] = len(outlook.live)
        report["idle"] = outlook.idle
        self._log_tick(report, outlook, len(result["waiting"]))
        self.last = {k: report[k] for k in ("tick", "at", "ms", "runs", "idle", "commit")}
        self.last.update(
            dispatched=len(report["dispatched"]),
            settled=len(report["settled"]),
            waiting=len(result["waiting"]),
        )
        self._write_state("running")
        self.notices.poke()
        self.forge.poke()  # pull requests whose poll is due (forges.github.poll_s)
        return report

    def _watch_hosts(self, report: dict[str, Any]) -> None:
        """Hosts whose workers went silent (:func:`aof.ops.hosts.find_down`): logged and
        raised as ``host_down`` once per silence."""
        from ..ops.hosts import find_down

        down = find_down(self.fleet)
        report["hosts_down"] = [h["slug"] for h in down]
        for host in down:
            if host["slug"] not in self._hosts_down:
                self.log.warning(
                    "host %s is down: no heartbeat for %.0f s", host["slug"], host["silent_s"]
                )
        self._hosts_down = set(report["hosts_down"])

    def _log_tick(self, report: dict[str, Any], outlook: Outlook, waiting: int) -> None:
        """A tick that changed something logs its counts; every tick whose standing (the runs
        it waits on, or idle and what it leaves) differs from the last one logged says so."""
        status = outlook.status()
        if report["dispatched"] or report["settled"] or report["applied"]:
            self.log.info(
                "tick %d: dispatched %d, settled %d, applied %d, %d running, %d ready waiting "
                "(%.0f ms); %s",
                report["tick"],
                len(report["dispatched"]),
                len(report["settled"]),
                len(report["applied"]),
                len(outlook.live),
                waiting,
                report["ms"],
                status,
            )
        elif status != self._last_status:
            self.log.info("tick %d: %s", report["tick"], status)
        self._last_status = status

    def _reload_config(self) -> None:
        from ..model.config import load_config

        try:
            config = load_config(self.root)
        except ConfigError as exc:
            stamp = _stamp(self.root / "aof.yaml")
            if self._bad_config != stamp:
                self.log.error("aof.yaml not reloaded, keeping the last good one: %s", exc)
                self.notices.degraded("config", f"aof.yaml not reloaded: {exc}")
                self._bad_config = stamp
            return
        self._bad_config = None
        current = self.fleet.config.data
        if self.coder_override:
            current = {
                **current,
                "defaults": {**current["defaults"], "coder": config.defaults.get("coder")},
            }
        if config.data != current:
            old, new = self.fleet.config.data, config.data
            diffs = [
                f"{section}.{k}: {old.get(section, {}).get(k)!r} -> {v!r}"
                for section in ("scheduler", "git", "defaults")
                for k, v in (new.get(section) or {}).items()
                if (old.get(section) or {}).get(k) != v
            ]
            self.log.info("reloaded aof.yaml%s", ": " + "; ".join(diffs) if diffs else "")
            self.fleet.config = config
            self.fleet.git.enabled = config.commit_mode != "off"
            self._override_coder()

    def _commit_leftovers(self, changed: set[str] | None) -> None:
        """Commit deferred aof changes, then human edits: at the paths the watcher named
        (``changed``), and everywhere when ``changed`` is None or ``sweep_s`` has passed."""
        f = self.fleet
        if f.git.enabled and f.git.pending_path.exists():
            sha = f.git.flush_pending(self.actor)
            if sha:
                self.log.info("committed deferred changes in %s", sha[:10])
        sweep_s = float(f.config.scheduler.get("sweep_s") or 60)
        due = changed is None or time.monotonic() - self._last_sweep >= sweep_s
        if not due and not changed:
            return
        only = None if due or len(changed or ()) > SWEEP_PATHS else sorted(changed or ())
        if only is None:
            self._last_sweep = time.monotonic()
        from ..ops.edits import sweep

        result = sweep(f, self._reported, only=only)
        self._young = bool(result.young)
        if result.young:
            self._last_sweep = 0.0  # a file too fresh to judge: look again next tick
        for rel, problem in sorted(result.invalid.items()):
            self.log.error("not committing %s until it is fixed: %s", rel, problem)
        if result.committed:
            self.log.info(
                "committed %d human edit(s): %s",
                len(result.committed),
                ", ".join(result.committed[:10]),
            )

    # --- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, result: dict[str, Any], report: dict[str, Any]) -> None:
        """Hand out the plan's work (:class:`aof.scheduler.handout.Handout`)."""
        Handout(self.fleet, self.executor, self.supervisor, self.gates, self.log).run(
            result, report
        )

    def _reconcile(self, report: dict[str, Any]) -> None:
        from ..ops.reconcile import ao_root, apply, evaluate

        if not any(ao_root(p) for p in self.fleet.registry.rows("project")):
            return
        try:
            rows = evaluate(self.fleet, ao=self.ao, daemon_alive=True)
            rows = [r for r in rows if r.runner == "ao"]
            done = apply(self.fleet, rows, ao=self.ao, actor=self.actor)
        except AofError as exc:
            self.log.error("reconcile: %s", exc)
            return
        for row in done:
            if row.applied is not None:
                self.log.info(
                    "reconcile %s: %s (%s -> %s): %s",
                    row.project,
                    row.action,
                    row.observed,
                    row.desired,
                    "ok" if row.applied else row.result,
                )
        report["reconciled"] = [r.to_json() for r in done if r.applied is not None]

    def _write_state(self, state: str) -> None:
        write_state(self.root, state_of(self, state))


def _stamp(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
