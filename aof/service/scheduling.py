"""The scheduling front of the service: desired states, snapshots, plans, explanations."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..clock import format_time, parse_time
from ..errors import AofError, InvalidTransition
from ..journal.audit import Actor
from ..model.task import State, Task
from .pipeline import FleetBase

TICK_TRAILER = "Plan-Digest"  # the trailer every daemon tick's commit carries


class Scheduling(FleetBase):
    """What teams should be doing and what the planner would do (mixed into :class:`aof.Fleet`)."""

    def open_work(self) -> dict[str, int]:
        """Per team, the tasks that are ready or in progress, counted from the task directories."""
        counts: dict[str, int] = {}
        for row in self.list_tasks(states=[State.READY, State.IN_PROGRESS]):
            team = row.get("team")
            if team:
                counts[team] = counts.get(team, 0) + 1
        return counts

    def desired_states(self, at: Any = None, teams: Sequence[str] | None = None) -> dict[str, Any]:
        """What each team (or each of ``teams``) should be doing at ``at``, and why.

        One read of the registry and the task directories for all of them (``aof.planner.desired``).
        """
        from ..planner.desired import desired_team

        when = at or self.clock.now()
        if teams is None:
            rows = self.registry.rows("team")
        else:
            rows = [self.registry.get("team", t).meta for t in teams]
        schedules = self.registry.rows("schedule")
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

        return build(self)

    def plan(
        self, at: Any = None, snapshot: dict[str, Any] | None = None, *, pull: bool = False
    ) -> dict[str, Any]:
        """The scheduler's plan at ``at`` (default: now), without applying it (``pull``: for an
        agent that asks for work itself, see :func:`aof.planner.plan.plan`)."""
        from ..planner.plan import plan

        snap = snapshot or self.snapshot()
        return plan(snap, at or self.clock.now(), self.config.data, pull=pull)

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
        import tempfile

        from ..planner.plan import digest, plan

        target, sha, trailers = self._tick_at(ref)
        base = trailers.get("Plan-Base")
        base = f"{sha}^" if not base or base == "none" else base
        at = parse_time(trailers["Plan-At"])
        tmp = Path(tempfile.mkdtemp(prefix="aof-replay-"))
        tree = tmp / "root"
        try:
            self.git.run("worktree", "add", "--detach", "-q", str(tree), base)
            past = type(self)(tree, commit=False, actor=self.actor)
            snap = past.snapshot()
            snap["heartbeats"] = json.loads(trailers.get("Plan-Heartbeats") or "{}")
            snap["coder_pauses"] = json.loads(trailers.get("Plan-Pauses") or "{}")
            snap["coders_missing"] = json.loads(trailers.get("Plan-Coders-Missing") or "{}")
            config = past.config.data
            if trailers.get("Plan-Coder"):  # the tick ran under `aof daemon --coder`
                config = {
                    **config,
                    "defaults": {**config["defaults"], "coder": trailers["Plan-Coder"]},
                }
            result = plan(snap, at, config)
        finally:
            self.git.run("worktree", "remove", "--force", str(tree), check=False)
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
        from ..errors import NotFound, ValidationError

        proc = self.git.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
        )
        if proc.returncode != 0:
            raise NotFound(f"commit {ref!r}: not found in the fleet root's history")
        target = proc.stdout.decode("ascii").strip()
        proc = self.git.run(
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

    def why(self, ref: str, at: Any = None) -> str:
        """One sentence on why ``ref`` is (or is not) being worked on."""
        task = self.get_task(ref)
        state = task.state
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
        gate = (task.meta.get("gate") or {}).get("current")
        texts = {
            State.BACKLOG: "is in the backlog, which never dispatches: promote it with "
            f"`aof task ready {task.id}`",
            State.IN_PROGRESS: f"is being worked on by {lease.get('holder')} "
            f"(lease until {lease.get('expires')})",
            State.REVIEW: f"is waiting for review at gate {gate}",
            State.BLOCKED: f"is blocked: {cause or 'see its body'}",
            State.DEADLETTER: f"is in deadletter: {cause or 'no attempts left'}; "
            f"`aof task resurrect {task.id}` brings it back",
            State.DONE: "is done",
            State.CANCELLED: "was cancelled",
        }
        text = texts.get(state, f"is {state.value}")
        return f"{task.id} {text}."

    def apply(
        self,
        result: dict[str, Any],
        *,
        kinds: Sequence[str] = ("expire", "block", "notify"),
        actor: Actor | None = None,
    ) -> list[dict[str, Any]]:
        """Carry out the plan's actions of ``kinds`` through the pipeline, one by one.

        Each action is checked again under its task's lock (a heartbeat that arrived since
        the plan wins over ``expire``). Returns every action with ``ok`` and, when it was not
        applied, ``error``. Dispatch needs an executor and is the daemon's.
        """
        who = actor or Actor("scheduler", "planner")
        now = self.clock.now()
        done = []
        for action in result["actions"]:
            if action["kind"] not in kinds:
                continue
            try:
                self._apply_one(action, who, now)
                done.append({**action, "ok": True})
            except AofError as exc:
                done.append({**action, "ok": False, "error": str(exc)})
        return done

    def _apply_one(self, action: dict[str, Any], who: Actor, now: Any) -> None:
        kind, reason = action["kind"], action.get("reason")
        if kind == "expire":

            def expire(task: Task, meta: dict[str, Any]) -> None:
                expiry = self.lease_expiry(task)
                if task.lease is None or expiry is None or expiry > now:
                    raise InvalidTransition(f"task {task.id}: the lease was renewed meanwhile")
                meta.pop("lease", None)
                meta["last_error"] = reason

            self._change(
                action["task"],
                "lease_expired",
                State(action["to"]),
                expire,
                actor=who,
                reason=reason,
                allowed_from=[State.IN_PROGRESS],
            )
        elif kind == "block":

            def block(task: Task, meta: dict[str, Any]) -> None:
                meta["blocked"] = {"reason": reason, "by": str(who), "at": format_time(now)}

            self._change(
                action["task"],
                "blocked",
                State.BLOCKED,
                block,
                actor=who,
                reason=reason,
                allowed_from=[State.READY, State.BACKLOG],
            )
        elif kind == "notify":

            def notify(task: Task, meta: dict[str, Any]) -> None:
                meta["sla_notified"] = format_time(now)

            self._change(
                action["task"],
                "sla_breach",
                None,
                notify,
                actor=who,
                reason=reason,
                allowed_from=[State.IN_PROGRESS],
            )
