"""What a daemon tick leaves its daemon waiting on, and what an idle daemon leaves behind.

A pure reading of one tick's snapshot, plan and outcome and of the executor's runs (no
files, no clock), so the daemon's log line, ``--until-idle`` and their tests agree:

- a run of this daemon is **live** while its process runs and its task is in progress under
  the run's own claim (the fence its token starts with), or it was started this tick: what
  the daemon's "N running" counts, so the figure never exceeds what the planner allowed. A
  run whose coder already reported (its task done while the process winds down), whose lease
  was lost, or which exited and is not settled yet is **finishing**;
- the daemon is **idle** when none of its runs is live or finishing and the tick applied no
  action (an expired lease puts a task back to ready: the next plan must see it). Nothing
  else keeps it busy: work held by someone else, or waiting on a dependency, a schedule
  window, a retry time or a paused coder, cannot be dispatched now;
- what it leaves behind: each task in progress held by someone else (holder, lease expiry),
  and each ready task the plan did not dispatch, with the plan's reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..runner.executor import RunStatus

SHOWN_IDS = 5  # run ids named in a log line before "..."


@dataclass
class Outlook:
    """Where a daemon stands after a tick (see the module docstring)."""

    live: list[str]  # run ids
    finishing: list[str]  # run ids
    replan: int  # actions applied this tick
    held: list[dict[str, Any]]  # {task, holder, expires}
    waiting: list[dict[str, Any]]  # {task, reason}
    gates: list[str] = field(default_factory=list)  # tasks whose command gate runs now

    @property
    def idle(self) -> bool:
        return not (self.live or self.finishing or self.replan or self.gates)

    def waits_on(self) -> str:
        """What keeps the daemon busy, in words ("" when idle)."""
        parts = []
        if self.gates:
            parts.append(f"{_count(len(self.gates), 'command gate')} {_ids(self.gates)}")
        if self.live:
            parts.append(f"{_count(len(self.live), 'live run')} of this daemon {_ids(self.live)}")
        if self.finishing:
            parts.append(f"{_count(len(self.finishing), 'finishing run')} {_ids(self.finishing)}")
        if self.replan:
            parts.append(f"the next plan after {_count(self.replan, 'applied action')}")
        return ", ".join(parts)

    def left_behind(self) -> str:
        """What an idle daemon leaves to others or to later, counted."""
        parts = []
        if self.held:
            parts.append(f"{_count(len(self.held), 'task')} held by someone else")
        if self.waiting:
            parts.append(f"{_count(len(self.waiting), 'ready task')} not dispatchable now")
        return ", ".join(parts) or "nothing left behind"

    def status(self) -> str:
        """The log line's account of the tick: what it waits on, or that it is idle."""
        if self.idle:
            return f"idle: {self.left_behind()}"
        return f"waiting on {self.waits_on()}"

    def report(self) -> list[str]:
        """One line per task left behind, for a person reading ``--until-idle``'s output."""
        lines = [
            f"  {h['task']}  in progress, held by {h['holder']} (lease until {h['expires']})"
            for h in self.held
        ]
        lines += [f"  {w['task']}  ready, not dispatched: {w['reason']}" for w in self.waiting]
        return lines


def assess(
    snap: dict[str, Any],
    result: dict[str, Any],
    runs: Sequence[RunStatus],
    *,
    started: Iterable[str] = (),
    not_started: Sequence[dict[str, Any]] = (),
    applied: Sequence[dict[str, Any]] = (),
    gates: Sequence[str] = (),
) -> Outlook:
    """Where the daemon stands after a tick.

    ``snap`` and ``result``: the tick's snapshot and plan; ``runs``: every run the executor
    knows after the tick; ``started``: run ids dispatched this tick; ``not_started``: planned
    dispatches that did not start ({task, reason}); ``applied``: the plan's applied actions;
    ``gates``: the tasks whose command gate this daemon runs now.
    """
    rows = {str(t["id"]): t for t in snap["tasks"] if t["state"] == "in-progress"}
    expired = {str(a["task"]) for a in applied if a["ok"] and a["kind"] == "expire"}
    new = set(started)
    ours = {(r.task_id, _fence(r.token)) for r in runs}
    live: list[str] = []
    finishing: list[str] = []
    for run in runs:
        row = rows.get(run.task_id)
        holds = (
            row is not None
            and run.task_id not in expired
            and str(row.get("fence")) == _fence(run.token)
        )
        alive = run.state == "running" and (holds or run.run_id in new)
        (live if alive else finishing).append(run.run_id)
    beats = snap.get("heartbeats") or {}
    held = [
        {"task": tid, "holder": row.get("holder"), "expires": beats.get(tid) or row.get("expires")}
        for tid, row in sorted(rows.items())
        if tid not in expired and (tid, str(row.get("fence"))) not in ours
    ]
    waiting = list(result["waiting"])  # each {task, reason}, as the plan made it
    waiting += [{"task": n["task"], "reason": n["reason"]} for n in not_started]
    return Outlook(
        gates=list(gates),
        live=live,
        finishing=finishing,
        replan=sum(1 for a in applied if a["ok"]),
        held=held,
        waiting=waiting,
    )


def _fence(token: str) -> str:
    """The claim a lease token belongs to (tokens are ``<fence>-<random>``)."""
    return str(token).split("-", 1)[0]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ids(ids: list[str]) -> str:
    """``(a, b, c)``, or the first few and ``...``."""
    shown = ", ".join(ids[:SHOWN_IDS])
    return f"({shown}{', ...' if len(ids) > SHOWN_IDS else ''})"
