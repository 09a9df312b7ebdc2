"""The scheduling front of the service: desired states, snapshots, plans, explanations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from ..clock import format_time, parse_time
from ..errors import AofError, ClaimConflict, InvalidTransition, NotFound, ValidationError
from ..journal.audit import Actor
from ..model.shapes import ActionsToApply, AppliedAction, NextTask, Plan, PlanAction
from ..model.task import State, Task
from .leases import Leases
from .pipeline import Pipeline

TICK_TRAILER = "Plan-Digest"  # the trailer every daemon tick's commit carries


class Scheduling:
    """What teams should be doing and what the planner would do (the facade is
    :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline, leases: Leases) -> None:
        self.pipeline = pipeline
        self.leases = leases  # next_task claims through it

    def open_work(self) -> dict[str, int]:
        """Per team, the tasks that are ready or in progress, counted from the task directories."""
        counts: dict[str, int] = {}
        for row in self.pipeline.list_tasks(states=[State.READY, State.IN_PROGRESS]):
            team = row.get("team")
            if team:
                counts[team] = counts.get(team, 0) + 1
        return counts

    def desired_states(self, at: Any = None, teams: Sequence[str] | None = None) -> dict[str, Any]:
        """What each team (or each of ``teams``) should be doing at ``at``, and why.

        One read of the registry and the task directories for all of them (``aof.planner.desired``).
        """
        from ..planner.desired import desired_team

        when = at or self.pipeline.clock.now()
        if teams is None:
            rows = self.pipeline.registry.rows("team")
        else:
            rows = [self.pipeline.registry.get("team", t).meta for t in teams]
        schedules = self.pipeline.registry.rows("schedule")
        work = self.open_work()
        return {
            str(t["slug"]): desired_team(t, schedules, when, work.get(str(t["slug"]), 0))
            for t in rows
        }

    def desired_state(self, team: str, at: Any = None) -> Any:
        """What ``team`` should be doing at ``at`` (default: now), and why
        (``aof.planner.desired``)."""
        return self.desired_states(at, [team])[team]

    def snapshot(self) -> dict[str, Any]:
        """What the planner reads, as plain data (``aof.planner.inputs``)."""
        from ..planner.inputs import build

        return build(self.pipeline)

    def plan(
        self, at: Any = None, snapshot: dict[str, Any] | None = None, *, pull: bool = False
    ) -> Plan:
        """The scheduler's plan at ``at`` (default: now), without applying it (``pull``: for an
        agent that asks for work itself, see :func:`aof.planner.plan.plan`)."""
        from ..planner.plan import plan

        snap = snapshot or self.snapshot()
        return plan(snap, at or self.pipeline.clock.now(), self.pipeline.config.data, pull=pull)

    def replay(self, ref: str) -> dict[str, Any]:
        """Recompute the plan of the latest daemon tick at or before ``ref`` (any commit-ish)
        from git history and compare digests.

        A tick's commit carries trailers: ``Plan-At`` (the plan's time), ``Plan-Base`` (the
        commit the snapshot was taken at), ``Plan-Heartbeats`` (lease expiries pushed on by
        heartbeats, which live outside git), ``Plan-Pauses`` (coders paused by usage limits, also
        outside git), ``Plan-Coders-Missing`` (coders whose program was not on the daemon's
        PATH) and ``Plan-Digest``. The base is checked out in
        a temporary worktree, planned again at that time, and the digests compared.
        """
        import shutil
        import tempfile

        from ..planner.inputs import build, spend
        from ..planner.plan import digest, plan

        target, sha, trailers = self._tick_at(ref)
        base = trailers.get("Plan-Base")
        base = f"{sha}^" if not base or base == "none" else base
        at = parse_time(trailers["Plan-At"])
        tmp = Path(tempfile.mkdtemp(prefix="aof-replay-"))
        tree = tmp / "root"
        try:
            self.pipeline.git.run("worktree", "add", "--detach", "-q", str(tree), base)
            past = Pipeline(tree, commit=False, actor=self.pipeline.actor)
            snap = build(past)
            snap["heartbeats"] = json.loads(trailers.get("Plan-Heartbeats") or "{}")
            snap["coder_pauses"] = json.loads(trailers.get("Plan-Pauses") or "{}")
            snap["coders_missing"] = json.loads(trailers.get("Plan-Coders-Missing") or "{}")
            snap["spend"] = spend(tree, at, snap["teams"], snap["projects"])  # at's month
            config = past.config.data
            if trailers.get("Plan-Coder"):  # the tick ran under `aof daemon --coder`
                config = {
                    **config,
                    "defaults": {**config["defaults"], "coder": trailers["Plan-Coder"]},
                }
            result = plan(snap, at, config)
        finally:
            self.pipeline.git.run("worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(tmp, ignore_errors=True)
        fingerprint = digest(result)
        return {
            "ref": ref,
            "ref_commit": target,
            "commit": sha,
            "base": base,
            "at": trailers["Plan-At"],
            "recorded": trailers["Plan-Digest"],
            "digest": fingerprint,
            "match": fingerprint == trailers["Plan-Digest"],
            "plan": result,
        }

    def _tick_at(self, ref: str) -> tuple[str, str, dict[str, str]]:
        """(the commit ``ref`` names, the latest daemon tick at or before it, that tick's
        ``Plan-*`` trailers); NotFound when ``ref`` names no commit or no tick precedes it."""
        proc = self.pipeline.git.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
        )
        if proc.returncode != 0:
            raise NotFound(f"commit {ref!r}: not found in the fleet root's history")
        target = proc.stdout.decode("ascii").strip()
        proc = self.pipeline.git.run(
            "log", "-1", f"--grep=^{TICK_TRAILER}: ", "--format=%H%n%B", target, "--", check=False
        )
        sha, _, body = proc.stdout.decode("utf-8", "replace").partition("\n")
        if proc.returncode != 0 or not sha:
            raise NotFound(
                f"no daemon tick at or before {ref!r} ({target[:10]}): `aof daemon` records "
                f"one commit per tick that changes something, with a {TICK_TRAILER} trailer"
            )
        trailers = {}
        for line in body.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key.startswith("Plan-"):
                trailers[key] = value.strip()
        if "Plan-At" not in trailers:
            raise ValidationError(f"commit {sha[:10]}: a daemon tick without its Plan-At trailer")
        return target, sha, trailers

    def next_task(
        self, agent: str | None = None, *, claim: bool = False, at: Any = None
    ) -> NextTask:
        """The task the plan would hand ``agent`` next; with ``claim``, claim it atomically.

        Returns ``{"task": <task JSON or None>, "reason": ...}``; a lost race moves on to the
        plan's next candidate. The agent asking is the worker, so the plan is a pull plan: a
        task is handed out whether or not a coder is configured for it.
        """
        result = self.plan(at, pull=True)
        candidates = [
            a
            for a in result["actions"]
            if a["kind"] == "dispatch"
            and (a["agent"] is None or agent is None or a["agent"] == agent)
        ]
        for action in candidates:
            if not claim:
                task = self.pipeline.get_task(action["task"])
                return {
                    "task": self.pipeline.task_json(task, body=False),
                    "agent": action["agent"],
                    "coder": action["coder"],
                    "reason": "first in the plan's order",
                }
            try:
                task = self.leases.claim(action["task"], agent or action["agent"] or "anonymous")
            except ClaimConflict:
                continue
            return {
                "task": self.pipeline.task_json(task, body=False),
                "agent": action["agent"],
                "coder": action["coder"],
                "token": (task.lease or {}).get("token"),
                "reason": "claimed",
            }
        waiting = len(result["waiting"])
        return {
            "task": None,
            "agent": agent,
            "coder": None,
            "reason": f"nothing to dispatch now ({waiting} ready task(s) waiting; "
            "`aof plan` says why)",
        }

    def why(self, ref: str, at: Any = None) -> str:
        """One sentence on why ``ref`` is (or is not) being worked on."""
        task = self.pipeline.get_task(ref)
        state = task.state
        if state == State.REVIEW:
            return self._why_review(task, at)
        if state == State.READY:
            result = self.plan(at)
            for action in result["actions"]:
                if action["task"] == task.id and action["kind"] == "dispatch":
                    who = f"agent {action['agent']}" if action["agent"] else "the next agent"
                    return (
                        f"{task.id} is ready and would be dispatched now to {who} "
                        f"(coder {action['coder']})."
                    )
                if action["task"] == task.id and action["kind"] == "block":
                    return f"{task.id} is ready but will be blocked: {action['reason']}."
            for wait in result["waiting"]:
                if wait["task"] == task.id:
                    return f"{task.id} is ready but not dispatched: {wait['reason']}."
        lease = task.lease or {}
        blocked = task.meta.get("blocked") or {}
        cause = blocked.get("question") or blocked.get("reason") or task.meta.get("last_error")
        texts = {
            State.BACKLOG: "is in the backlog, which never dispatches: promote it with "
            f"`aof task ready {task.id}`",
            State.IN_PROGRESS: f"is being worked on by {lease.get('holder')} "
            f"(lease until {lease.get('expires')})",
            State.BLOCKED: f"is blocked: {cause or 'see its body'}",
            State.DEADLETTER: f"is in deadletter: {cause or 'no attempts left'}; "
            f"`aof task resurrect {task.id}` brings it back",
            State.DONE: "is done",
            State.CANCELLED: "was cancelled",
        }
        text = texts.get(state, f"is {state.value}")
        return f"{task.id} {text}."

    def _why_review(self, task: Task, at: Any) -> str:
        """Which gate a task in review is at, what it waits for, and the last gate result."""
        gate = task.meta.get("gate") or {}
        name = gate.get("current")
        history = gate.get("history") or []
        last = ""
        if history:
            h = history[-1]
            sha = f" on {str(h['sha'])[:10]}" if h.get("sha") else ""
            last = f" Last result: gate {h.get('gate')} {h.get('outcome')}{sha} by {h.get('by')}."
        lease = task.lease or {}
        if lease:
            doing = "aof runs it" if lease.get("holder") == "aof" else f"{lease['holder']} reviews"
            return (
                f"{task.id} is in review at gate {name}: {doing} (lease until "
                f"{lease.get('expires')}).{last}"
            )
        result = self.plan(at)
        for action in result["actions"]:
            if action["task"] != task.id:
                continue
            if action["kind"] == "gate":
                return f"{task.id} is in review at gate {name}: aof runs it now.{last}"
            if action["kind"] == "review":
                return (
                    f"{task.id} is in review at gate {name}: agent {action['agent']} would "
                    f"review it now (coder {action['coder']}).{last}"
                )
        for wait in result["waiting"]:
            if wait["task"] == task.id:
                return f"{task.id} is in review: {wait['reason']}.{last}"
        return f"{task.id} is in review at gate {name}.{last}"

    def apply(
        self,
        result: ActionsToApply,
        *,
        kinds: Sequence[str] = ("expire", "block", "notify", "review_waiting"),
        actor: Actor | None = None,
    ) -> list[AppliedAction]:
        """Carry out the plan's actions of ``kinds`` through the pipeline, one by one.

        Each action is checked again under its task's lock (a heartbeat that arrived since
        the plan wins over ``expire``). Returns every action with ``ok`` and, when it was not
        applied, ``error``. Dispatch needs an executor and is the daemon's.
        """
        who = actor or Actor("scheduler", "planner")
        now = self.pipeline.clock.now()
        done: list[AppliedAction] = []
        for action in result["actions"]:
            if action["kind"] not in kinds:
                continue
            try:
                self._apply_one(action, who, now)
                done.append(_applied(action, None))
            except AofError as exc:
                done.append(_applied(action, str(exc)))
        return done

    def _apply_one(self, action: PlanAction, who: Actor, now: Any) -> None:
        kind, reason = action["kind"], action.get("reason")
        if kind == "expire":

            def expire(task: Task, meta: dict[str, Any]) -> None:
                expiry = self.pipeline.lease_expiry(task)
                if task.lease is None or expiry is None or expiry > now:
                    raise InvalidTransition(f"task {task.id}: the lease was renewed meanwhile")
                meta.pop("lease", None)
                if task.state == State.IN_PROGRESS:
                    meta["last_error"] = reason

            self.pipeline.change(
                action["task"],
                "lease_expired",
                State(action["to"]),
                expire,
                actor=who,
                reason=reason,
                allowed_from=[State.REVIEW] if action["to"] == "review" else [State.IN_PROGRESS],
            )
        elif kind == "block":

            def block(task: Task, meta: dict[str, Any]) -> None:
                meta["blocked"] = {"reason": reason, "by": str(who), "at": format_time(now)}

            self.pipeline.change(
                action["task"],
                "blocked",
                State.BLOCKED,
                block,
                actor=who,
                reason=reason,
                allowed_from=[State.READY, State.BACKLOG],
            )
        elif kind == "review_waiting":

            def waiting(task: Task, meta: dict[str, Any]) -> None:
                gate = dict(meta.get("gate") or {})
                if gate.get("current") != action.get("gate") or task.lease:
                    raise InvalidTransition(f"task {task.id}: its gate moved on meanwhile")
                gate["notified"] = f"{gate.get('round')}:{gate.get('current')}"
                meta["gate"] = gate

            self.pipeline.change(
                action["task"],
                "review_waiting",
                None,
                waiting,
                actor=who,
                reason=reason,
                allowed_from=[State.REVIEW],
                event="review_waiting",
            )
        elif kind == "notify":
            from ..model.sla import period_start

            state = State(action.get("state") or State.IN_PROGRESS)

            def notify(task: Task, meta: dict[str, Any]) -> None:
                since = action.get("since")
                if since is not None and period_start(state.value, task.meta) != since:
                    raise InvalidTransition(f"task {task.id}: it moved since the plan")
                meta["sla_notified"] = format_time(now)

            self.pipeline.change(
                action["task"],
                "sla_breach",
                None,
                notify,
                actor=who,
                reason=reason,
                allowed_from=[state],
            )


def _applied(action: PlanAction, error: str | None) -> AppliedAction:
    """``action`` with ``ok``, and ``error`` when it was not applied."""
    out = cast(AppliedAction, dict(action))
    out["ok"] = error is None
    if error is not None:
        out["error"] = error
    return out
