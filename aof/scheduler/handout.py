"""Handing out a plan's work: claims and runs for ``dispatch``, reviewer runs for ``review``,
command gates for ``gate`` (the daemon's, once per tick; :mod:`aof.scheduler.daemon`)."""

from __future__ import annotations

import logging
from typing import Any

from ..coders import resolve as coders
from ..errors import AofError
from ..fleet import Fleet
from ..runner.dispatch import dispatch
from ..runner.executor import Executor
from ..runner.gates import GateRunner
from ..runner.review import dispatch_review
from .supervise import RunSupervisor

DISPATCH_THREADS = 8


class Handout:
    """One tick's hand-out of the plan's work."""

    def __init__(
        self,
        fleet: Fleet,
        executor: Executor,
        supervisor: RunSupervisor,
        gates: GateRunner,
        log: logging.Logger,
    ) -> None:
        self.fleet = fleet
        self.executor = executor
        self.supervisor = supervisor
        self.gates = gates
        self.log = log

    def run(self, result: dict[str, Any], report: dict[str, Any]) -> None:
        """Claim and start every planned dispatch: a few at a time, because each claim waits
        on fsyncs and each start on a fork and exec (the plan already chose within limits)."""
        f = self.fleet
        self._gate_work(result, report)
        todo = []
        for action in result["actions"]:
            if action["kind"] not in ("dispatch", "review"):
                continue
            if coders.known(action["coder"], f.config.data):
                todo.append(action)
                continue
            if action["kind"] == "review":
                self.log.error(
                    "%s: reviewer %s has an unknown coder %r",
                    action["task"],
                    action["agent"],
                    action["coder"],
                )
                continue
            from ..coders.adapters import names

            reason = (
                f"coder {action['coder']!r} is not known (registered: {', '.join(names())}; "
                f"define coders.{action['coder']}.command in aof.yaml, then `aof task unblock`)"
            )
            block = {"kind": "block", "task": action["task"], "reason": reason}
            f.apply({"actions": [block]}, kinds=("block",), actor=f.actor)
            self.log.error("%s: %s", action["task"], reason)
        if not todo:
            return
        projects = {p["slug"]: p for p in f.registry.rows("project")}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(DISPATCH_THREADS, len(todo))) as pool:
            started = list(pool.map(lambda a: self._start(a, projects), todo))
        for item in started:
            if "reason" in item:
                report["not_started"].append(item)
                continue
            report["dispatched"].append(item)
            self.log.info(
                "dispatched %s to %s (coder %s)", item["task"], item["holder"], item["coder"]
            )

    def _gate_work(self, result: dict[str, Any], report: dict[str, Any]) -> None:
        """Start the command gates the plan hands out (each on a thread of its own)."""
        for action in result["actions"]:
            if action["kind"] != "gate":
                continue
            why_not = self.gates.start(action["task"], action["gate"])
            if why_not:
                self.log.warning(
                    "gate %s of %s not started: %s", action["gate"], action["task"], why_not
                )
                report["not_started"].append({"task": action["task"], "reason": why_not})
            else:
                self.log.info("gate %s of %s started", action["gate"], action["task"])
                report.setdefault("gates", []).append(action["task"])

    def _start(self, action: dict[str, Any], projects: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Claim and submit one dispatch (or a reviewer's run): {task, holder, coder, run},
        or {task, reason}."""
        holder = action["agent"] or action["coder"]
        try:
            if action["kind"] == "review":
                done = dispatch_review(
                    self.fleet,
                    self.executor,
                    action["task"],
                    holder,
                    action["gate"],
                    projects=projects,
                    coder=action["coder"],
                )
            else:
                done = dispatch(
                    self.fleet,
                    self.executor,
                    action["task"],
                    holder,
                    projects=projects,
                    coder=action["coder"],
                    agent=action["agent"],
                )
        except AofError as exc:  # the claim: the task was not taken
            self.log.info("not dispatching %s: %s", action["task"], exc)
            return {"task": action["task"], "reason": f"the claim failed: {exc}"}
        if done.spec is None or done.error is not None:
            self.log.error("%s: %s", done.task.id, done.error)
            if done.unrecorded:
                self.log.error(
                    "%s: could not record the failed start: %s", done.task.id, done.unrecorded
                )
            return {"task": done.task.id, "reason": done.error}
        self.supervisor.started(done.spec.run_id)
        run_id = done.spec.run_id
        return {"task": done.task.id, "holder": holder, "coder": done.coder, "run": run_id}
