"""The daemon's watch over the runs of its executor, once per tick.

First, a task whose dispatcher died between claiming it and starting its run is given back
to ready (:mod:`aof.runner.intents`). Then every live run's lease is renewed (at a quarter
of ``scheduler.lease_ttl_s``); a run whose lease is gone (expired and handed on, cancelled
...) is stopped, SIGKILLed after :data:`KILL_AFTER_S`. A run that ended is settled: its
supervisor normally did it (``outcome.json``); a coder that exited while still holding its
lease did not report, which counts as a failed attempt. Then its record is forgotten, and
the worktrees of the settled runs' finished tasks are removed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import AofError, LeaseError, NotFound
from ..fleet import Fleet
from ..runner.executor import Executor, RunStatus
from ..runner.intents import REASON as INTENT_REASON
from ..runner.intents import recover

KILL_AFTER_S = 10.0


class RunSupervisor:
    """Lease renewal, stopping and settling of the runs one daemon watches."""

    def __init__(self, fleet: Fleet, executor: Executor, log: logging.Logger) -> None:
        self.fleet = fleet
        self.executor = executor
        self.log = log
        self.renewed: dict[str, float] = {}  # run id -> when its lease was last renewed
        self.terminating: dict[str, float] = {}  # run id -> when it was told to stop
        self.unleased: dict[str, float] = {}  # run id -> when its task left in-progress

    def started(self, run_id: str) -> None:
        """A run just started: its lease is as fresh as its claim."""
        self.renewed[run_id] = self.fleet.clock.now().timestamp()

    def supervise(self, report: dict[str, Any]) -> None:
        """Renew, stop or settle every run of the executor (settled ones go to the report)."""
        for task_id in recover(self.fleet):
            self.log.warning("gave %s back to ready: %s", task_id, INTENT_REASON)
        ttl = float(self.fleet.config.scheduler["lease_ttl_s"])
        now = self.fleet.clock.now().timestamp()  # the injected clock: leases are in its time
        remote: list[RunStatus] = []
        for run in self.executor.runs():
            if run.state != "running":
                self.settle(run, report)
                continue
            if run.run_id in self.terminating:
                if time.monotonic() - self.terminating[run.run_id] > KILL_AFTER_S:
                    self.executor.cancel(run.run_id, force=True)
                continue
            if run.host:
                remote.append(run)  # renews its own lease through the API
                continue
            if now - self.renewed.get(run.run_id, 0.0) < ttl / 4:
                continue
            try:
                self.fleet.heartbeat(run.task_id, run.token)
                self.renewed[run.run_id] = now
            except (LeaseError, NotFound) as exc:
                if self.winding_down(run):
                    continue
                # The run lost its lease (expired and handed on, cancelled, ...): its
                # reports would be refused by the fencing token; stop wasting the slot.
                self.log.warning("stopping run %s: %s", run.run_id, exc)
                self.terminate(run)
        self.stop_unleased(remote)

    def winding_down(self, run: RunStatus) -> bool:
        """Is this a run whose own report took its task out of in-progress (done, review,
        blocked, ready after a failure), so that its coder ends by itself? It gets
        :data:`KILL_AFTER_S` to do so: a signal now could cut the agent's last write short.
        A task that is in progress under another lease, cancelled or gone: stop at once."""
        from ..model.task import State

        state = self.fleet.tasks.states_of([run.task_id]).get(run.task_id)
        if state in (State.IN_PROGRESS, State.CANCELLED, None):
            return False
        since = self.unleased.setdefault(run.run_id, time.monotonic())
        return time.monotonic() - since < KILL_AFTER_S

    def stop_unleased(self, runs: list[RunStatus]) -> None:
        """Stop the remote attempts whose task left in-progress: at once when it was
        cancelled (its worker hears it through RQ, not at its next heartbeat), after
        :data:`KILL_AFTER_S` otherwise (an agent that reported ends its run by itself). A
        reviewer's run holds no attempt's lease: its own supervisor sees to it."""
        from ..model.task import State

        attempts = [r for r in runs if "-" not in r.folder]
        states = self.fleet.tasks.states_of(r.task_id for r in attempts)
        for run in attempts:
            state = states.get(run.task_id)
            if state == State.IN_PROGRESS:
                self.unleased.pop(run.run_id, None)
                continue
            since = self.unleased.setdefault(run.run_id, time.monotonic())
            if state not in (State.CANCELLED, None) and time.monotonic() - since < KILL_AFTER_S:
                continue
            what = state.value if state is not None else "gone"
            self.log.warning("stopping run %s on %s: its task is %s", run.run_id, run.host, what)
            self.unleased.pop(run.run_id, None)
            self.terminate(run)

    def terminate(self, run: RunStatus) -> None:
        self.executor.cancel(run.run_id)
        self.terminating[run.run_id] = time.monotonic()

    def settle(self, run: RunStatus, report: dict[str, Any]) -> None:
        """A run ended. Its supervisor normally settled it (outcome.json); if the supervisor
        died first and the coder still holds the lease, it exited without reporting."""
        outcome = run.outcome or "reported"
        if run.ending and not run.settled and run.run_id not in self.terminating:
            outcome = self.settle_ending(run)
        elif not run.settled and run.run_id not in self.terminating:
            code = "an unknown code" if run.exit_code is None else f"code {run.exit_code}"
            try:
                _task, outcome = self.fleet.settle_run(
                    run.task_id,
                    run.token,
                    outcome="exited",
                    reason=f"coder {run.coder} exited with {code}",
                    usage=self.usage(run),
                )
            except AofError as exc:
                outcome = f"exited; could not record it: {exc}"
        self.executor.forget(run.run_id)
        from ..fleetapi import revoke_token

        revoke_token(self.fleet, run=run.run_id)  # its remote API token, if it had one
        self.renewed.pop(run.run_id, None)
        self.terminating.pop(run.run_id, None)
        self.unleased.pop(run.run_id, None)
        settled = {
            "run": run.run_id,
            "coder": run.coder,
            "exit_code": run.exit_code,
            "outcome": outcome,
        }
        report["settled"].append(settled)
        self.log.info(
            "run %s (%s) exited with %s: %s", run.run_id, run.coder, run.exit_code, outcome
        )

    def settle_ending(self, run: RunStatus) -> str:
        """Settle a remote run with the ending its supervisor reported (or the kill a person
        asked for): the typed outcome, what it spent, its usage and hand-off note."""
        ending = dict(run.ending or {})
        keep = ("spent", "usage", "handoff")
        fields: dict[str, Any] = {k: ending[k] for k in keep if k in ending}
        try:
            _task, outcome = self.fleet.settle_run(
                run.task_id,
                run.token,
                outcome=str(ending.get("outcome") or "exited"),
                reason=str(ending.get("reason") or f"run on host {run.host} ended"),
                **fields,
            )
        except AofError as exc:
            if ending.get("outcome") == "lost-lease":
                return "lost-lease"  # the task is someone else's now: nothing to settle
            return f"{ending.get('outcome')}; could not record it: {exc}"
        if outcome == "usage-limited" and ending.get("pause_until"):
            self.pause_coder(run, str(ending["pause_until"]), str(ending.get("reason") or ""))
        return outcome

    def pause_coder(self, run: RunStatus, until: str, reason: str) -> None:
        """A remote run hit its coder's usage limit: the coder is paused here, where the
        planner looks, as a local run's supervisor would have paused it."""
        from ..clock import parse_time
        from ..store import pauses

        try:
            when = parse_time(until)
        except ValueError:
            self.log.warning("run %s: a pause until %r is not a time", run.run_id, until)
            return
        pauses.pause(self.fleet.root, run.coder, when, reason=reason, task=run.task_id)

    def usage(self, run: RunStatus) -> dict[str, Any] | None:
        """What a run whose supervisor died used, as its last ``meter.json`` says (for its
        ledger row; the ledger keeps one row per run however often it is settled)."""
        from .. import layout
        from ..store.runfiles import read_json

        meter = read_json(layout.run_dir(self.fleet.root, run.task_id, run.folder) / "meter.json")
        used = (meter or {}).get("usage")
        if not isinstance(used, dict):
            return None
        extra = {"run": run.run_id, "attempt": run.attempt, "coder": run.coder}
        label = run.folder.partition("-")[2]
        return {**used, **extra, "agent": run.holder, "label": label or None}

    def clean_worktrees(self, task_ids: list[str]) -> None:
        """Remove the worktrees of the settled runs' tasks that are done or cancelled (their
        supervisors normally did; never one with a live process). One pass per tick."""
        from ..runner.worktree_admin import prune_worktrees

        try:
            for row in prune_worktrees(self.fleet, task_ids=task_ids):
                if row["action"] == "removed":
                    self.log.info("removed the worktree of %s (%s)", row["task"], row["reason"])
        except AofError as exc:
            self.log.warning("worktrees of %s not removed: %s", ", ".join(task_ids), exc)
