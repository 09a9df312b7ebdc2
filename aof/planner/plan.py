"""The planner: a pure function from (snapshot, now, config) to a plan.

No files, no clock, no randomness: the same inputs give the same plan, byte for byte, so a
tick can be replayed from a recorded snapshot. The plan holds actions (expire a lease,
deadletter, block a task whose dependency failed, notify an SLA breach, dispatch) and, for
every ready task that is not dispatched, the reason in words a person understands.

Dispatch order: priority, then the team's business_priority (higher first), then the deadline
(``due``), then creation time, then id. Limits, checked in this order and named in the
reason: the team's desired state (schedules, overrides), the project being enabled, the
team's and the project's monthly budget (``budget.usd_month``, against the month's spend the
snapshot carries), a coder that can run it (one is configured: task, agent profile, project
or ``defaults.coder``; and its program is installed, as the snapshot recorded), global
``scheduler.max_concurrent``, the team's ``max_concurrent``, the host's ``capacity_slots``,
the agent's ``concurrency``, the coder's ``max_concurrent`` and pause. Work a gate sent back goes to
the agent that did it (``gate.worker``), when that agent may still take it.

Tasks in review come first (:mod:`aof.planner.review`): the work of their gates, within the
same limits, before any ready task is dispatched.

``pull=True`` plans for an agent that asks for work itself (``aof task next``, MCP
``aof_next``/``aof_claim``): that agent is the worker, so whether a coder is configured and
installed does not matter there; every other rule does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..clock import format_time, parse_time
from ..coders.resolve import NO_CODER, not_installed, resolve
from ..model.shapes import Plan, PlanAction, Waiting
from ..model.sla import format_duration, limit_for, period_start
from ..model.task import PRIORITY_RANK
from .desired import desired_team
from .review import expired_reviews, place_reviews, review_rows

FAILED = ("cancelled", "deadletter")
# The fields of a task that decide which agents may take it and with which coder.
ROUTE_FIELDS = ("routing", "team", "project", "coder", "model")


def digest(result: Mapping[str, object]) -> str:
    """A plan's fingerprint (canonical JSON, sha256): what a daemon tick's commit records."""
    import hashlib
    import json

    data = json.dumps(result, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def order_key(task: dict[str, Any], teams: dict[str, dict[str, Any]]) -> tuple[Any, ...]:
    """Where ``task`` stands in dispatch order (see the module docstring)."""
    return _order_key(task, _business(teams))


def _business(teams: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each team's place by business priority (higher first), for :func:`_order_key`."""
    return {slug: -int(t.get("business_priority") or 0) for slug, t in teams.items()}


def _order_key(task: dict[str, Any], business: dict[str, int]) -> tuple[Any, ...]:
    return (
        PRIORITY_RANK.get(str(task.get("priority") or "normal"), 9),
        business.get(str(task.get("team")), 0),
        str(task.get("due") or "9999"),
        str(task.get("created") or ""),
        str(task["id"]),
    )


def _ranked(tasks: list[dict[str, Any]], teams: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``tasks`` in dispatch order (:func:`order_key`, with the teams' ranks made once)."""
    business = _business(teams)
    return sorted(tasks, key=lambda t: _order_key(t, business))


def _coder(
    task: dict[str, Any], agent: dict[str, Any] | None, snap: dict[str, Any], config: dict[str, Any]
) -> str | None:
    project = snap["projects"].get(str(task.get("project"))) or {}
    return resolve(task, agent, project, config)[0]


def _coder_problem(coder: str | None, snap: dict[str, Any]) -> str | None:
    """Why ``coder`` cannot run a task (none configured, or its program is missing as the
    snapshot recorded), else None."""
    if coder is None:
        return NO_CODER
    program = (snap.get("coders_missing") or {}).get(coder)
    return not_installed(coder, program) if program else None


def _unrunnable(t: dict[str, Any], snap: dict[str, Any], config: dict[str, Any]) -> str | None:
    """Why no agent that may take ``t`` has a coder that can run it, else None."""
    candidates = _agents_for(t, snap)
    if candidates == []:
        return None  # nobody may take it: the routing reason says so
    agents: list[str | None] = list(candidates) if candidates else [None]
    problems = [
        _coder_problem(_coder(t, snap["agents"].get(a or ""), snap, config), snap) for a in agents
    ]
    return problems[0] if all(problems) else None


def _agents_for(task: dict[str, Any], snap: dict[str, Any]) -> list[str] | None:
    """Agents that may take ``task`` (None: no agent profiles, any agent may)."""
    agents = snap["agents"]
    if not agents:
        return None
    routing = task.get("routing") or {}
    if routing.get("agent"):
        return [routing["agent"]] if routing["agent"] in agents else []
    out = []
    for slug, a in sorted(agents.items()):
        if routing.get("role") and routing["role"] not in (a.get("roles") or []):
            continue
        if a.get("team") and task.get("team") and a["team"] != task["team"]:
            continue
        if a.get("projects") and task.get("project") not in a["projects"]:
            continue
        out.append(slug)
    return out


def plan(
    snap: dict[str, Any], now: datetime, config: dict[str, Any], *, pull: bool = False
) -> Plan:
    """The plan for ``snap`` at ``now`` (see the module docstring for the rules)."""
    sched = config.get("scheduler") or {}
    max_attempts = int(sched.get("max_attempts") or 3)
    tasks = sorted(snap["tasks"], key=lambda t: str(t["id"]))
    states: dict[str, str] = dict(snap["states"])
    running = [t for t in tasks if t["state"] == "in-progress"]
    beats = snap.get("heartbeats") or {}
    # 1. Leases: an expired one frees its slot now (the task goes back to ready, or out; a
    # gate's work in review is taken up again).
    actions, live = _leases(running, beats, now, max_attempts)
    reviews = review_rows(tasks)
    expired, reviewing = expired_reviews(reviews, beats, now)
    actions.extend(expired)
    gone = {a["task"] for a in expired}
    reviews = [t for t in reviews if t["id"] not in gone]
    # 2. Dependencies that failed block their dependents, visibly.
    actions.extend(_failed_dependencies(tasks, states))
    # 3. SLA breaches of the tasks that stay where they are.
    actions.extend(_sla(tasks, now, {a["task"] for a in actions}))
    # 4. Dispatch, in order, within every limit.
    blocked_ids = {a["task"] for a in actions if a["kind"] == "block"}
    ready = _ranked(
        [t for t in tasks if t["state"] == "ready" and t["id"] not in blocked_ids], snap["teams"]
    )
    dispatch = _Dispatch(snap, now, config, pull, states, max_attempts)
    dispatch.desired = desired_states(tasks, snap, now)
    dispatch.used["global"] = len(live)
    for t in live:
        _count(dispatch.used, t, snap, config, t.get("holder"))
    for t in reviewing:
        if t.get("holder") != "aof":  # a reviewer's run; aof's own gates have their limit
            _count(dispatch.used, {**t, "coder": None}, snap, config, t.get("holder"))
    waiting: list[Waiting] = []
    if not pull:  # finishing work comes before starting more
        review_actions, review_waiting = place_reviews(reviews, snap, config, dispatch.reviewer)
        actions.extend(review_actions)
        waiting.extend(review_waiting)
    for t in ready:
        action = dispatch.place(t)
        if isinstance(action, str):
            waiting.append({"task": t["id"], "reason": action})
        else:
            actions.append(action)
    return {
        "at": format_time(now),
        "actions": actions,
        "waiting": waiting,
        "order": [t["id"] for t in ready],
    }


def _leases(
    running: list[dict[str, Any]], beats: dict[str, str], now: datetime, max_attempts: int
) -> tuple[list[PlanAction], list[dict[str, Any]]]:
    """The ``expire`` actions of the tasks in progress, and those whose lease is live."""
    actions: list[PlanAction] = []
    live = []
    for t in running:
        expires = beats.get(t["id"]) or t.get("expires")
        if expires and parse_time(expires) <= now:
            out = (
                "deadletter"
                if _failed(t) >= int(t.get("max_attempts") or max_attempts)
                else "ready"
            )
            actions.append(
                {
                    "kind": "expire",
                    "task": t["id"],
                    "to": out,
                    "reason": f"lease of {t.get('holder')} expired at {expires}",
                }
            )
            continue
        live.append(t)
    return actions, live


def _sla(tasks: list[dict[str, Any]], now: datetime, skip: set[str]) -> list[PlanAction]:
    """A ``notify`` action for each task longer in its state than its SLA allows, once per
    period in the state (``aof.model.sla``); ``skip``: tasks another action moves now."""
    actions: list[PlanAction] = []
    for t in tasks:
        if t.get("sla") is None:
            continue
        state = str(t["state"])
        limit = limit_for(t["sla"], state)
        if not limit or t.get("sla_notified") or t["id"] in skip:
            continue
        since = period_start(state, t)
        if since is None or now.timestamp() <= parse_time(since).timestamp() + limit:
            continue
        actions.append(
            {
                "kind": "notify",
                "task": t["id"],
                "state": state,
                "since": since,
                "reason": f"{state} for longer than its SLA of {format_duration(limit)} "
                f"(since {since})",
            }
        )
    return actions


def _failed_dependencies(tasks: list[dict[str, Any]], states: dict[str, str]) -> list[PlanAction]:
    """A ``block`` action for each ready or backlog task a failed dependency holds up."""
    actions: list[PlanAction] = []
    for t in tasks:
        if not t.get("depends_on") or t["state"] not in ("ready", "backlog"):
            continue
        failed = [d for d in t["depends_on"] if states.get(d) in FAILED]
        if failed:
            d = failed[0]
            actions.append(
                {"kind": "block", "task": t["id"], "reason": f"dependency {d} is {states[d]}"}
            )
    return actions


class _Dispatch:
    """Ready tasks placed one by one, in order, within every limit (``used`` counts what
    is taken so far)."""

    def __init__(
        self,
        snap: dict[str, Any],
        now: datetime,
        config: dict[str, Any],
        pull: bool,
        states: dict[str, str],
        max_attempts: int,
    ) -> None:
        self.snap, self.now, self.config, self.pull = snap, now, config, pull
        self.states, self.max_attempts = states, max_attempts
        self.used: dict[str, Any] = {"global": 0, "team": {}, "host": {}, "agent": {}, "coder": {}}
        self.limit_global = int((config.get("scheduler") or {}).get("max_concurrent", 4))
        self.pauses = snap.get("coder_pauses") or {}
        self.desired: dict[str, Any] = {}  # each team's desired state (desired_states)
        spend = snap.get("spend") or {}
        # Budgets only bind in the month the snapshot's spend is of.
        self.spend_month = spend.get("month") == now.strftime("%Y-%m")
        # Whether any agent of a task can run it depends only on these fields of the task
        # (:func:`_agents_for` and :func:`aof.coders.resolve.resolve` read no others): tasks
        # that share them share the answer.
        self._unrunnable: dict[tuple[Any, ...], str | None] = {}

    def place(self, t: dict[str, Any]) -> PlanAction | str:
        """The dispatch action of ready task ``t``, or the reason it waits."""
        snap, config = self.snap, self.config
        reason = _why_not(t, self.states, self.desired, snap, self.now, self.max_attempts)
        if reason is None and self.spend_month:
            reason = _over_budget(t, snap, self.now)
        if reason is None and not self.pull:
            key = tuple(repr(t.get(k)) for k in ROUTE_FIELDS)
            if key not in self._unrunnable:
                self._unrunnable[key] = _unrunnable(t, snap, config)
            reason = self._unrunnable[key]
        agent = None
        if reason is None:
            reason, agent = _capacity(
                t, self.used, self.limit_global, snap, config, self.pauses, self.now, self.pull
            )
        if reason is not None:
            return reason
        _count(self.used, t, snap, config, agent)
        return {
            "kind": "dispatch",
            "task": t["id"],
            "agent": agent,
            "coder": _coder(t, snap["agents"].get(agent or ""), snap, config),
        }

    def reviewer(
        self, t: dict[str, Any], candidates: list[str]
    ) -> tuple[str | None, str | None, str | None]:
        """The first of ``candidates`` free to review ``t`` now, and its coder (counted);
        else None and why."""
        snap, config = self.snap, self.config
        if self.used["global"] >= self.limit_global:
            return None, None, f"the fleet is at capacity ({self.used['global']} in progress)"
        row = {**t, "coder": None, "model": None}  # the reviewer's coder, not the worker's
        for a in candidates:
            profile = snap["agents"][a]
            if self.used["agent"].get(a, 0) >= int(profile.get("concurrency") or 1):
                continue
            coder = _coder(row, profile, snap, config)
            if _coder_problem(coder, snap) is not None:
                continue
            until = self.pauses.get(coder or "")
            if until and parse_time(until) > self.now:
                continue
            cap = ((config.get("coders") or {}).get(coder or "") or {}).get("max_concurrent")
            if cap is not None and self.used["coder"].get(coder, 0) >= int(cap):
                continue
            _count(self.used, row, snap, config, a)
            return a, coder, None
        return None, None, f"every reviewer is busy or cannot run now ({', '.join(candidates)})"


def desired_states(
    tasks: list[dict[str, Any]], snap: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Each team's desired state at ``now``, given its open work."""
    open_work: dict[str, int] = {}
    for t in tasks:
        if t["state"] in ("ready", "in-progress") and t.get("team"):
            open_work[t["team"]] = open_work.get(t["team"], 0) + 1
    return {
        slug: desired_team({**team, "slug": slug}, snap["schedules"], now, open_work.get(slug, 0))
        for slug, team in snap["teams"].items()
    }


def _failed(t: dict[str, Any]) -> int:
    """Attempts that count against max_attempts (``aof.model.task.failed_attempts`` of a
    summary)."""
    return max(int(t.get("attempts") or 0) - int(t.get("rejections") or 0), 0)


def _why_not(
    t: dict[str, Any],
    states: dict[str, str],
    desired: dict[str, Any],
    snap: dict[str, Any],
    now: datetime,
    max_attempts: int,
) -> str | None:
    pending = [d for d in t.get("depends_on") or [] if states.get(d) != "done"]
    if pending:
        return "waiting on " + ", ".join(f"{d} ({states.get(d, 'missing')})" for d in pending)
    if t.get("retry_after") and parse_time(t["retry_after"]) > now:
        return f"backing off after a failure until {t['retry_after']}"
    cap = int(t.get("max_attempts") or max_attempts)
    if _failed(t) >= cap:
        return (
            f"its {cap} attempt(s) are used up: give it more with "
            f"`aof task edit {t['id']} --set max_attempts={cap + 1}`, or cancel it"
        )
    team = t.get("team")
    if team and team in desired and desired[team].state != "running":
        return f"team {team} is {desired[team].state}: {desired[team].reason}"
    project = snap["projects"].get(str(t.get("project")))
    if project is not None and project.get("enabled") is False:
        return f"project {t['project']} is disabled"
    return None


def _over_budget(t: dict[str, Any], snap: dict[str, Any], now: datetime) -> str | None:
    """Why ``t`` waits for its team's or project's monthly budget, else None. The spend is
    the snapshot's, of its month; in another month nothing is spent yet."""
    spend = snap.get("spend") or {}
    month = now.strftime("%Y-%m")
    if spend.get("month") != month:
        return None
    for kind, name, entry in (
        ("team", t.get("team"), snap["teams"].get(str(t.get("team")))),
        ("project", t.get("project"), snap["projects"].get(str(t.get("project")))),
    ):
        usd = ((entry or {}).get("budget") or {}).get("usd_month")
        spent = float((spend.get(kind) or {}).get(str(name), 0.0))
        if usd is not None and spent >= float(usd):
            return (
                f"{kind} {name} is over its monthly budget: ${spent:,.2f} of ${float(usd):,.2f} "
                f"spent in {month}"
            )
    return None


def _capacity(
    t: dict[str, Any],
    used: dict[str, Any],
    limit_global: int,
    snap: dict[str, Any],
    config: dict[str, Any],
    pauses: dict[str, str],
    now: datetime,
    pull: bool,
) -> tuple[str | None, str | None]:
    if used["global"] >= limit_global:
        return f"the fleet is at capacity ({used['global']}/{limit_global} in progress)", None
    team = snap["teams"].get(str(t.get("team"))) or {}
    if team.get("max_concurrent") is not None and used["team"].get(t.get("team"), 0) >= int(
        team["max_concurrent"]
    ):
        return f"team {t['team']} is at capacity ({team['max_concurrent']} in progress)", None
    project = snap["projects"].get(str(t.get("project"))) or {}
    host = project.get("host")
    if host and host in snap["hosts"]:
        slots = int(snap["hosts"][host].get("capacity_slots", 1))
        if used["host"].get(host, 0) >= slots:
            return f"host {host} is full ({slots} slot(s) in use)", None
    candidates = _agents_for(t, snap)
    worker = (t.get("gate") or {}).get("worker")
    if candidates and worker in candidates:
        candidates = [worker]  # work sent back by a gate goes to the agent that did it
    agent = None
    if candidates is not None:
        free = [
            a
            for a in candidates
            if used["agent"].get(a, 0) < int(snap["agents"][a].get("concurrency") or 1)
            and (pull or _coder_problem(_coder(t, snap["agents"][a], snap, config), snap) is None)
        ]
        if not candidates:
            routing = t.get("routing") or {}
            what = routing.get("agent") or routing.get("role") or t.get("team") or "it"
            return f"no agent can take it (routing: {what})", None
        if not free:
            return f"every agent that can take it is busy ({', '.join(candidates)})", None
        agent = free[0]
    coder = _coder(t, snap["agents"].get(agent or ""), snap, config)
    until = pauses.get(coder or "")
    if until and parse_time(until) > now:
        return f"coder {coder} is paused until {until} (usage limit)", None
    cap = ((config.get("coders") or {}).get(coder or "") or {}).get("max_concurrent")
    if cap is not None and used["coder"].get(coder, 0) >= int(cap):
        return f"coder {coder} is at capacity ({cap} in progress)", None
    return None, agent


def _count(
    used: dict[str, Any],
    t: dict[str, Any],
    snap: dict[str, Any],
    config: dict[str, Any],
    agent: str | None,
) -> None:
    if t["state"] != "in-progress":
        used["global"] += 1
    for key, value in (
        ("team", t.get("team")),
        ("host", (snap["projects"].get(str(t.get("project"))) or {}).get("host")),
        ("agent", agent),
        ("coder", _coder(t, snap["agents"].get(agent or ""), snap, config)),
    ):
        if value:
            used[key][value] = used[key].get(value, 0) + 1
