"""The service: the one door through which every change to a fleet root passes.

Each mutation runs the same pipeline: locate the task, take its per-task lock, re-read it,
check the lifecycle rule (and fencing token), build the new content, validate it, write or
move the file atomically (:mod:`aof.cardfile`), append one audit record, and commit exactly the
touched paths. The CLI and the MCP server call these methods and nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cardfile, yamlfast
from .audit import Actor, AuditLog
from .clock import Clock, IdSource, SystemClock, SystemIds, format_time, parse_time
from .config import CONFIG_NAME, Config, load_config
from .errors import (
    ClaimConflict,
    InvalidTransition,
    LeaseError,
    NotFound,
    RootExists,
    ValidationError,
)
from .store.tasks import Located, TaskStore
from .task import (
    PRIORITIES,
    PRIORITY_RANK,
    SCHEMA,
    STATES,
    TERMINAL,
    TRANSITIONS,
    State,
    Task,
    check_ref,
    ordered,
    slugify,
    validate,
)

if TYPE_CHECKING:
    from .gitlog import Committer
    from .registry.service import Registry

# Fields a generic `edit --set` may not touch: identity, and what only the lifecycle writes.
PROTECTED = frozenset({"schema", "id", "created", "created_by", "lease", "fence", "attempts"})
Mutator = Callable[[Task, dict[str, Any]], str | None]


def _resource(*parts: str) -> Path:
    """A packaged resource: inside the wheel, or beside the package in a source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here.joinpath(*parts)
    if packaged.exists():
        return packaged
    return here.parent.joinpath(
        *(p.replace("_", "-") if i == 0 else p for i, p in enumerate(parts))
    )


def template_dir() -> Path:
    return _resource("fleet_root_template")


def append_section(body: str, heading: str, text: str) -> str:
    """Append ``text`` under ``## heading`` (created at the end of the body when missing)."""
    marker = f"## {heading}"
    lines = body.split("\n")
    if marker in (ln.rstrip() for ln in lines):
        start = next(i for i, ln in enumerate(lines) if ln.rstrip() == marker)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        new = [*lines[:end], text, *([""] if end < len(lines) else []), *lines[end:]]
        out = "\n".join(new)
        return out if out.endswith("\n") else out + "\n"
    base = body.rstrip("\n")
    return (base + "\n\n" if base else "") + f"{marker}\n\n{text}\n"


class Fleet:
    """One fleet root. Every change to it goes through a method of this class.

    ``clock`` and ``ids`` are injected so tests and replays are exact; ``actor`` is who the
    changes are attributed to in the audit trail and git; ``commit`` overrides ``git.commit``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        actor: Actor | str = "system:aof",
        commit: bool | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.config: Config = load_config(self.root)
        self.clock = clock or SystemClock()
        self.ids = ids or SystemIds()
        self.actor = actor if isinstance(actor, Actor) else Actor.parse(actor)
        self.tasks = TaskStore(self.root)
        self.audit = AuditLog(self.root, self.clock)
        self._commit = self.config.commit_mode != "off" if commit is None else commit
        self._git: Committer | None = None
        self._registry: Registry | None = None

    @property
    def git(self) -> Committer:
        """The committer (built on first use: read-only calls never import subprocess)."""
        if self._git is None:
            from .gitlog import Committer

            self._git = Committer(
                self.root,
                enabled=self._commit,
                committer=self.config.committer,
                audit_lock=self.audit.lock,
                clock=self.clock,
            )
        return self._git

    @property
    def registry(self) -> Registry:
        """Teams, projects, hosts, schedules and agents (``aof.registry.service``)."""
        if self._registry is None:
            from .registry.service import Registry

            self._registry = Registry(self)
        return self._registry

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

        One read of the registry and the task directories for all of them (``aof.desired``).
        """
        from .desired import desired_team

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
        """What ``team`` should be doing at ``at`` (default: now), and why (``aof.desired``)."""
        return self.desired_states(at, [team])[team]

    def snapshot(self) -> dict[str, Any]:
        """What the planner reads, as plain data (``aof.scheduler.snapshot``)."""
        from .scheduler.snapshot import build

        return build(self)

    def plan(self, at: Any = None, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
        """The scheduler's plan at ``at`` (default: now), without applying it."""
        from .scheduler.plan import plan

        return plan(snapshot or self.snapshot(), at or self.clock.now(), self.config.data)

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

    def next_task(
        self, agent: str | None = None, *, claim: bool = False, at: Any = None
    ) -> dict[str, Any]:
        """The task the plan would hand ``agent`` next; with ``claim``, claim it atomically.

        Returns ``{"task": <task JSON or None>, "reason": ...}``; a lost race moves on to the
        plan's next candidate.
        """
        from .errors import ClaimConflict

        result = self.plan(at)
        candidates = [
            a
            for a in result["actions"]
            if a["kind"] == "dispatch"
            and (a["agent"] is None or agent is None or a["agent"] == agent)
        ]
        for action in candidates:
            if not claim:
                task = self.get_task(action["task"])
                return {
                    "task": self.task_json(task, body=False),
                    "agent": action["agent"],
                    "coder": action["coder"],
                    "reason": "first in the plan's order",
                }
            try:
                task = self.claim(action["task"], agent or action["agent"] or "anonymous")
            except ClaimConflict:
                continue
            return {
                "task": self.task_json(task, body=False),
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

    # --- creating a fleet root ----------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, name: str | None = None, **kwargs: Any) -> Fleet:
        """Create a fleet root at ``path`` from the template; RootExists if one is there."""
        root = Path(path).expanduser().resolve()
        if (root / CONFIG_NAME).exists():
            raise RootExists(
                f"{root}: already a fleet root ({CONFIG_NAME} exists); not touching it"
            )
        template = template_dir()
        files = sorted(p for p in template.rglob("*") if p.is_file())
        clashes = [
            p.relative_to(template) for p in files if (root / p.relative_to(template)).exists()
        ]
        if clashes:
            raise RootExists(f"{root}: would overwrite {clashes[0]}; init needs a fresh directory")
        root.mkdir(parents=True, exist_ok=True)
        fleet_name = name or slugify(root.name) or "fleet"
        for src in files:
            dst = root / src.relative_to(template)
            dst.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text(encoding="utf-8")
            if src.name == CONFIG_NAME:
                text = text.replace("{{name}}", fleet_name)
            cardfile.write_new(dst, text)
        import subprocess

        if not (root / ".git").exists():
            subprocess.run(["git", "init", "-q", str(root)], check=True)
        # Git's own settings for repositories with many files (feature.manyFiles, plus the
        # split index): every aof commit rewrites only a small part of the index.
        for key, value in (
            ("index.version", "4"),
            ("core.untrackedCache", "true"),
            ("core.splitIndex", "true"),
        ):
            subprocess.run(["git", "config", key, value], cwd=root, check=True)
        fleet = cls(root, **kwargs)
        _, audit_path = fleet.audit.append(
            fleet.actor, "init", ("fleet", fleet_name), reason="aof init"
        )
        fleet.git.commit(
            [*(d.relative_to(template) for d in files), audit_path],
            f"fleet {fleet_name}: initialised by aof ({fleet.actor})",
            fleet.actor,
        )
        return fleet

    # --- reading ----------------------------------------------------------------------------

    def get_task(self, ref: str) -> Task:
        """Return the task ``ref`` names (an id or unique prefix); NotFound otherwise."""
        return self.tasks.load(ref)

    def list_tasks(
        self,
        *,
        states: Iterable[State | str] | None = None,
        team: str | None = None,
        project: str | None = None,
        priority: str | None = None,
        labels: Sequence[str] = (),
        holder: str | None = None,
        text: str | None = None,
        problems: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Summaries of matching tasks, most urgent first; unreadable files go to ``problems``."""
        wanted = [State(s) for s in states] if states else list(STATES)
        rows, bad = self.tasks.summaries(wanted)
        if problems is not None:
            problems.extend(bad)
        needle = text.lower() if text else None
        out = []
        for row in rows:
            if (team and row["team"] != team) or (project and row["project"] != project):
                continue
            if priority and row["priority"] != priority:
                continue
            if labels and not set(labels) <= set(row["labels"]):
                continue
            if holder and row["holder"] != holder:
                continue
            if needle and needle not in str(row["title"]).lower():
                try:
                    body = cardfile.read(self.root / row["path"]).body
                except (OSError, ValidationError):
                    continue
                if needle not in body.lower():
                    continue
            out.append(row)
        order = {s.value: i for i, s in enumerate(STATES)}
        out.sort(
            key=lambda r: (
                order[r["state"]],
                PRIORITY_RANK.get(r["priority"], 9),
                str(r["created"]),
                str(r["id"]),
            )
        )
        return out

    def task_json(self, task: Task, *, body: bool = True) -> dict[str, Any]:
        """The stable JSON shape of one task (docs/cli.md, "JSON shapes")."""
        meta = task.meta
        out: dict[str, Any] = {
            "id": task.id,
            "title": task.title,
            "state": task.state.value,
            "priority": task.priority,
            "team": meta.get("team"),
            "project": meta.get("project"),
            "labels": list(meta.get("labels") or []),
            "depends_on": task.depends_on,
            "parent": meta.get("parent"),
            "created": meta.get("created"),
            "updated": meta.get("updated"),
            "created_by": meta.get("created_by"),
            "attempts": meta.get("attempts", 0),
            "max_attempts": meta.get("max_attempts"),
            "lease": task.lease,
            "last_error": meta.get("last_error"),
            "blocked": meta.get("blocked"),
            "path": self.tasks.rel(task.path),
            "rev": task.rev,
            "meta": meta,
        }
        if body:
            out["body"] = task.body
        return out

    # --- the mutation pipeline ------------------------------------------------------------

    def _record(
        self,
        action: str,
        task_id: str,
        paths: Sequence[Path],
        message: str,
        *,
        actor: Actor | None = None,
        frm: str | None = None,
        to: str | None = None,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        who = actor or self.actor
        _, audit_path = self.audit.append(
            who, action, ("task", task_id), frm=frm, to=to, reason=reason, changes=changes
        )
        self.git.commit([*paths, audit_path], f"{message} ({who})", who)

    def _now(self) -> str:
        return format_time(self.clock.now())

    def _change(
        self,
        ref: str,
        action: str,
        to: State | None,
        mutate: Mutator,
        *,
        allowed_from: Iterable[State] | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        expect_rev: str | None = None,
        conflict_as_claim: bool = False,
    ) -> Task:
        """Apply ``mutate`` to a task under its lock and move it to ``to`` (None: stay)."""
        loc = self.tasks.locate(ref, prefer=allowed_from or ())
        with self.tasks.lock(loc.id):
            try:
                task = self.tasks.read(self.tasks.relocate(loc))
            except NotFound:
                if conflict_as_claim:
                    raise ClaimConflict(f"task {loc.id} was taken by another claimant") from None
                raise
            self._check_readable(task)
            if expect_rev is not None and task.rev != expect_rev:
                from .errors import ConcurrentModification

                raise ConcurrentModification(
                    f"task {task.id} changed since revision {expect_rev} (now {task.rev}); "
                    "re-read it and apply your change again"
                )
            target = to or task.state
            if allowed_from is not None and task.state not in set(allowed_from):
                if conflict_as_claim and task.state == State.IN_PROGRESS:
                    holder = (task.lease or {}).get("holder", "another agent")
                    raise ClaimConflict(f"task {task.id} is already claimed by {holder}")
                raise InvalidTransition(
                    f"task {task.id} is {task.state.value}; {action} needs it to be "
                    f"{' or '.join(s.value for s in allowed_from)}"
                )
            if target != task.state and target not in TRANSITIONS[task.state]:
                raise InvalidTransition(
                    f"task {task.id}: {task.state.value} -> {target.value} is not allowed "
                    f"(from {task.state.value} it can go to "
                    f"{', '.join(sorted(s.value for s in TRANSITIONS[task.state])) or 'nowhere'})"
                )
            meta = cardfile.copy_plain(task.meta)  # a deep copy the mutator may change freely
            new_body = mutate(task, meta)
            meta["updated"] = self._now()
            meta = ordered(meta)
            validate(meta, self.tasks.rel(task.path))
            text = cardfile.render(task.card, meta, new_body)
            changed = {
                k: meta.get(k)
                for k in set(meta) | set(task.meta)
                if meta.get(k) != task.meta.get(k) and k != "updated"
            }
            paths = [task.path]
            if target == task.state:
                cardfile.replace(task.path, text, expect=task.card.stamp)
                new_path = task.path
            else:
                new_path = self.tasks.state_dir(target) / task.path.name
                new_path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    cardfile.move_rewrite(
                        task.path,
                        new_path,
                        text,
                        cardfile.content_hash(task.card.text),
                        expect=task.card.stamp,
                    )
                except FileNotFoundError:
                    if conflict_as_claim:
                        raise ClaimConflict(
                            f"task {task.id} was taken by another claimant"
                        ) from None
                    raise NotFound(f"task {task.id} moved while it was being changed") from None
                except FileExistsError:
                    raise InvalidTransition(
                        f"task {task.id}: {self.tasks.rel(new_path)} already exists (a duplicate; "
                        "run `aof doctor --fix`)"
                    ) from None
                paths.append(new_path)
            transition = f"{task.state.value} -> {target.value}" if target != task.state else action
            self._record(
                action,
                task.id,
                paths,
                f"task {task.id}: {transition}",
                actor=actor,
                frm=task.state.value if target != task.state else None,
                to=target.value if target != task.state else None,
                reason=reason,
                changes=_jsonable(changed) or None,
            )
            card = cardfile.written(text, meta, new_body if new_body is not None else task.body)
            card.stamp = cardfile.Stamp.of(os.stat(new_path))
            return Task(task.id, target, new_path, card)

    def _check_readable(self, task: Task) -> None:
        validate(task.meta, self.tasks.rel(task.path), task.card)
        if task.meta.get("id") != task.id:
            raise ValidationError(
                f"{self.tasks.rel(task.path)}:{task.card.line_of('id')}: id: "
                f"{task.meta.get('id')!r} does not match the file name's id {task.id!r}"
            )

    def _check_token(self, task: Task, token: str | None, actor: Actor) -> None:
        """Refuse a stale or foreign fencing token; agents must always present one."""
        if token is None:
            if actor.kind == "agent":
                raise LeaseError(
                    f"task {task.id}: an agent must pass its lease token (--token / "
                    "AOF_LEASE_TOKEN)"
                )
            return
        lease = task.lease
        if task.state != State.IN_PROGRESS or lease is None:
            raise LeaseError(
                f"task {task.id}: token {token!r} is stale: the task is {task.state.value} "
                "and holds no lease"
            )
        if token != lease.get("token"):
            raise LeaseError(
                f"task {task.id}: token {token!r} is stale: the lease is now held by "
                f"{lease.get('holder')} (fence {task.meta.get('fence')})"
            )

    def _note(self, heading: str, text: str, actor: Actor | None = None) -> str:
        return f"- {self._now()} {actor or self.actor}: {text}" if heading else text

    # --- creating and editing --------------------------------------------------------------

    def create_task(
        self,
        title: str,
        *,
        priority: str | None = None,
        team: str | None = None,
        project: str | None = None,
        depends_on: Sequence[str] = (),
        labels: Sequence[str] = (),
        parent: str | None = None,
        body: str | None = None,
        ready: bool = False,
        fields: dict[str, Any] | None = None,
    ) -> Task:
        """Create a task in backlog (or ready); ValidationError for bad fields or unknown deps."""
        state = State.READY if ready else State.BACKLOG
        deps = [self.tasks.locate(d).id for d in depends_on]
        parent_id = self.tasks.locate(parent).id if parent else None
        meta: dict[str, Any] = {
            "schema": SCHEMA,
            "id": "t-0000",
            "title": title.strip() if isinstance(title, str) else title,
            "priority": priority or self.config.defaults.get("priority") or "normal",
            "team": team,
            "project": project,
            "depends_on": list(dict.fromkeys(deps)),
            "parent": parent_id,
            "created": self._now(),
            "created_by": str(self.actor),
            "attempts": 0,
            "labels": list(dict.fromkeys(labels)),
        }
        for key, value in (fields or {}).items():
            if key in PROTECTED or (key in meta and key not in ("team", "project")):
                raise ValidationError(f"field {key}: cannot be set here")
            meta[key] = value
        meta = {k: v for k, v in meta.items() if v not in (None, [], {}) or k == "attempts"}
        validate(meta, "new task")
        text_body = body if body is not None else f"## Objective\n\n{meta['title']}\n"
        if text_body and not text_body.endswith("\n"):
            text_body += "\n"
        slug = slugify(meta["title"])
        directory = self.tasks.state_dir(state)
        directory.mkdir(parents=True, exist_ok=True)
        length = 6
        while True:
            tid = "t-" + self.ids.token(length)
            meta["id"] = tid
            path = directory / (f"{tid}-{slug}.md" if slug else f"{tid}.md")
            with self.tasks.lock(tid):
                if self.tasks.exists(tid):
                    length += 1  # a collision: grow the id
                    continue
                text = "---\n" + yamlfast.dump(ordered(meta)) + "---\n" + text_body
                cardfile.write_new(path, text)
                self.tasks._names[tid] = path.name
                self._record(
                    "created",
                    tid,
                    [path],
                    f"task {tid}: created in {state.value}",
                    to=state.value,
                    reason=meta["title"],
                )
            return self.tasks.read(Located(tid, state, path))

    def edit_task(
        self,
        ref: str,
        *,
        title: str | None = None,
        priority: str | None = None,
        set_fields: dict[str, Any] | None = None,
        unset: Sequence[str] = (),
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        add_deps: Sequence[str] = (),
        remove_deps: Sequence[str] = (),
        body: str | None = None,
        token: str | None = None,
        expect_rev: str | None = None,
    ) -> Task:
        """Change fields and/or the body of a task; ValidationError for bad values or cycles."""
        for key in [*(set_fields or {}), *unset]:
            if key in PROTECTED or (key not in (set_fields or {}) and key in ("title",)):
                raise ValidationError(f"field {key}: is managed by aof and cannot be edited")
        new_deps = [self.tasks.locate(d).id for d in add_deps]

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            if title is not None:
                meta["title"] = title.strip()
            if priority is not None:
                meta["priority"] = priority
            for key, value in (set_fields or {}).items():
                meta[key] = value
            for key in unset:
                meta.pop(key, None)
            if add_labels or remove_labels:
                labels = [x for x in meta.get("labels", []) if x not in remove_labels]
                meta["labels"] = labels + [x for x in add_labels if x not in labels]
            if new_deps or remove_deps:
                drop = {check_ref(d) for d in remove_deps}
                deps = [
                    d
                    for d in meta.get("depends_on", [])
                    if d not in drop and not any(d.startswith(p) for p in drop)
                ]
                meta["depends_on"] = deps + [d for d in new_deps if d not in deps]
                self._refuse_cycle(task.id, meta["depends_on"])
            for key in ("labels", "depends_on"):
                if key in meta and not meta[key] and key not in task.meta:
                    del meta[key]
            return body

        return self._change(ref, "edited", None, mutate, expect_rev=expect_rev)

    def _refuse_cycle(self, task_id: str, deps: Sequence[str]) -> None:
        """ValidationError if ``task_id`` depending on ``deps`` closes a cycle."""
        seen: set[str] = set()
        stack = [(d, [task_id, d]) for d in deps]
        while stack:
            current, trail = stack.pop()
            if current == task_id:
                raise ValidationError(
                    f"task {task_id}: depends_on would create a cycle: {' -> '.join(trail)}"
                )
            if current in seen:
                continue
            seen.add(current)
            try:
                dep = self.tasks.load(current)
            except NotFound:
                raise ValidationError(f"task {task_id}: depends_on: no task {current!r}") from None
            stack.extend((d, [*trail, d]) for d in dep.depends_on)

    # --- the lifecycle ------------------------------------------------------------------

    def promote(self, ref: str, *, reason: str | None = None) -> Task:
        """Move a backlog task to ready (the only way out of the parking lot)."""
        return self._change(
            ref,
            "promoted",
            State.READY,
            lambda t, m: None,
            allowed_from=[State.BACKLOG],
            reason=reason,
        )

    def demote(self, ref: str, *, reason: str | None = None) -> Task:
        """Park a ready task in backlog again."""
        return self._change(
            ref,
            "demoted",
            State.BACKLOG,
            lambda t, m: None,
            allowed_from=[State.READY],
            reason=reason,
        )

    def claim(self, ref: str, agent: str, *, ttl_s: float | None = None) -> Task:
        """Claim a ready task for ``agent``: one rename that exactly one claimant wins.

        Raise ClaimConflict if another claimant won, InvalidTransition if the task is not
        ready or a dependency is not done. The returned task's lease holds the fencing token.
        """
        who = Actor.parse(agent if ":" in agent else f"agent:{agent}")
        ttl = float(ttl_s or self.config.scheduler["lease_ttl_s"])

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            waiting = self.pending_dependencies(task)
            if waiting:
                raise InvalidTransition(
                    f"task {task.id} cannot be claimed: waiting on "
                    + ", ".join(f"{d} ({s})" for d, s in waiting)
                )
            now = self.clock.now()
            fence = int(meta.get("fence", 0)) + 1
            meta["fence"] = fence
            meta["attempts"] = int(meta.get("attempts", 0)) + 1
            meta.pop("retry_after", None)
            meta["lease"] = {
                "holder": who.id,
                "token": f"{fence}-{self.ids.token(8)}",
                "acquired": format_time(now),
                "expires": format_time(now + timedelta(seconds=ttl)),
            }
            return None

        return self._change(
            ref,
            "claimed",
            State.IN_PROGRESS,
            mutate,
            actor=who,
            allowed_from=[State.READY],
            conflict_as_claim=True,
        )

    def pending_dependencies(self, task: Task) -> list[tuple[str, str]]:
        """(id, state) of each dependency of ``task`` that is not done (missing ones too)."""
        if not task.depends_on:
            return []
        states = self.tasks.id_states()
        return [
            (d, states[d].value if d in states else "missing")
            for d in task.depends_on
            if states.get(d) != State.DONE
        ]

    def heartbeat(self, ref: str, token: str) -> dict[str, Any]:
        """Renew the lease's liveness, no commit (``.aof/heartbeats/``); LeaseError if stale."""
        task = self.tasks.load(ref)
        self._check_token(task, token, Actor("agent", "heartbeat"))
        now = self.clock.now()
        beat = {"id": task.id, "token": token, "at": format_time(now)}
        path = self.root / ".aof" / "heartbeats" / f"{task.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{task.id}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(beat), encoding="utf-8")
        os.replace(tmp, path)
        return {**beat, "expires": format_time(self.lease_expiry(task) or now)}

    def lease_expiry(self, task: Task) -> Any:
        """When the task's lease runs out: its ``expires``, pushed on by a matching heartbeat."""
        lease = task.lease
        if lease is None:
            return None
        expires = parse_time(lease["expires"])
        try:
            beat = json.loads((self.root / ".aof" / "heartbeats" / f"{task.id}.json").read_text())
            if beat.get("token") == lease.get("token"):
                ttl = timedelta(seconds=float(self.config.scheduler["lease_ttl_s"]))
                expires = max(expires, parse_time(beat["at"]) + ttl)
        except (OSError, ValueError, KeyError):
            pass
        return expires

    def release(self, ref: str, *, token: str | None = None, reason: str | None = None) -> Task:
        """Give an in-progress task back to ready (the attempt stays counted)."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            return None

        return self._change(
            ref, "released", State.READY, mutate, allowed_from=[State.IN_PROGRESS], reason=reason
        )

    def complete(self, ref: str, *, token: str | None, summary: str) -> Task:
        """Report an in-progress task done: to review if its workflow has gates, else done."""
        if not summary or not summary.strip():
            raise ValidationError("summary: a completion needs a summary of what was done")
        gates = self._gates_of(self.tasks.load(ref))
        target = State.REVIEW if gates else State.DONE

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            meta.pop("blocked", None)
            if gates:
                meta["gate"] = {
                    "current": gates[0],
                    "history": meta.get("gate", {}).get("history", []),
                }
            return append_section(
                task.body,
                "Completion Summary",
                f"{summary.strip()}\n\n_{self._now()} {self.actor}_",
            )

        return self._change(
            ref,
            "completed",
            target,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=summary.strip().splitlines()[0][:200],
        )

    def _gates_of(self, task: Task) -> list[str]:
        name = task.meta.get("workflow") or self.config.defaults.get("workflow")
        if not name:
            return []
        path = self.root / "workflows" / f"{name}.yaml"
        if not path.is_file():
            raise ValidationError(
                f"{self.tasks.rel(task.path)}: workflow: no file workflows/{name}.yaml"
            )
        from .config import read_yaml_file

        gates = read_yaml_file(path).get("gates") or []
        return [str(g.get("name") if isinstance(g, dict) else g) for g in gates]

    def approve(self, ref: str, *, note: str | None = None) -> Task:
        """Pass the current review gate: on to the next gate, or done after the last."""
        task = self.tasks.load(ref)
        gates = self._gates_of(task)
        current = (task.meta.get("gate") or {}).get("current")
        nxt = gates[gates.index(current) + 1] if current in gates[:-1] else None

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            gate = dict(meta.get("gate") or {})
            history = [
                *gate.get("history", []),
                {"gate": current, "outcome": "passed", "by": str(self.actor), "at": self._now()},
            ]
            meta["gate"] = {"current": nxt, "history": history} if nxt else {"history": history}
            if note:
                return append_section(
                    task.body, "Review", self._note("Review", f"approved: {note}")
                )
            return None

        return self._change(
            ref,
            "approved",
            None if nxt else State.DONE,
            mutate,
            allowed_from=[State.REVIEW],
            reason=note,
        )

    def reject(self, ref: str, *, feedback: str) -> Task:
        """Reject the work under review: feedback goes into the body, the task back to ready."""
        if not feedback.strip():
            raise ValidationError("feedback: a rejection needs feedback for the next attempt")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            gate = dict(meta.get("gate") or {})
            history = [
                *gate.get("history", []),
                {
                    "gate": gate.get("current"),
                    "outcome": "rejected",
                    "by": str(self.actor),
                    "at": self._now(),
                },
            ]
            meta["gate"] = {"history": history}
            return append_section(
                task.body, "Review", self._note("Review", f"rejected: {feedback}")
            )

        return self._change(
            ref, "rejected", State.READY, mutate, allowed_from=[State.REVIEW], reason=feedback
        )

    def block(self, ref: str, *, question: str, token: str | None = None) -> Task:
        """Block an in-progress task on a question for a person; the lease is given up."""
        if not question.strip():
            raise ValidationError("question: blocking needs the question to ask")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            meta["blocked"] = {
                "reason": "question",
                "question": question.strip(),
                "by": str(self.actor),
                "at": self._now(),
            }
            return append_section(
                task.body, "Questions", self._note("Questions", f"**Q** {question.strip()}")
            )

        return self._change(
            ref,
            "blocked",
            State.BLOCKED,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=question.strip(),
        )

    def answer(self, ref: str, *, text: str) -> Task:
        """Answer a blocked task's question; the answer joins the body and the task is ready."""
        if not text.strip():
            raise ValidationError("text: the answer is empty")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("blocked", None)
            return append_section(
                task.body, "Questions", self._note("Questions", f"**A** {text.strip()}")
            )

        return self._change(
            ref, "answered", State.READY, mutate, allowed_from=[State.BLOCKED], reason=text.strip()
        )

    def unblock(self, ref: str, *, reason: str | None = None) -> Task:
        """Return a blocked task to ready without an answer."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("blocked", None)
            return None

        return self._change(
            ref, "unblocked", State.READY, mutate, allowed_from=[State.BLOCKED], reason=reason
        )

    def fail(
        self, ref: str, *, error: str, token: str | None = None, permanent: bool = False
    ) -> Task:
        """Record a failed attempt: back to ready, or deadletter once attempts are exhausted."""
        task = self.tasks.load(ref)
        limit = task.meta.get("max_attempts") or self.config.scheduler["max_attempts"]
        attempts = int(task.meta.get("attempts", 0))
        exhausted = permanent or attempts >= int(limit)
        target = State.DEADLETTER if exhausted else State.READY

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            meta["last_error"] = error.strip()
            if not exhausted:
                meta["retry_after"] = format_time(self.clock.now() + self.backoff(attempts))
            return append_section(
                task.body, "Work Log", self._note("Work Log", f"failed: {error.strip()}")
            )

        return self._change(
            ref,
            "deadlettered" if exhausted else "failed",
            target,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=error.strip(),
        )

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait before attempt ``attempts + 1``: exponential, capped, with jitter
        drawn from the injected random source (so replays and tests are exact)."""
        cfg = self.config.scheduler.get("backoff") or {}
        base, factor = float(cfg.get("base_s", 60)), float(cfg.get("factor", 2.0))
        delay = min(base * factor ** max(attempts - 1, 0), float(cfg.get("max_s", 3600)))
        jitter = float(cfg.get("jitter", 0.25))
        return timedelta(seconds=round(delay * (1 + jitter * (2 * self.ids.random() - 1))))

    def cancel(self, ref: str, *, reason: str) -> Task:
        """Cancel a task that is not done; the reason is kept in its body."""
        if not reason.strip():
            raise ValidationError("reason: cancelling needs a reason")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("lease", None)
            return append_section(task.body, "Cancelled", self._note("Cancelled", reason.strip()))

        return self._change(
            ref,
            "cancelled",
            State.CANCELLED,
            mutate,
            allowed_from=[s for s in STATES if s not in TERMINAL],
            reason=reason,
        )

    def resurrect(self, ref: str, *, reason: str | None = None) -> Task:
        """Bring a deadlettered task back to ready with its attempts reset (cause kept)."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta["attempts"] = 0
            meta.pop("retry_after", None)
            return None

        return self._change(
            ref, "resurrected", State.READY, mutate, allowed_from=[State.DEADLETTER], reason=reason
        )

    def progress(self, ref: str, *, note: str, token: str | None = None) -> Task:
        """Append a line to the task's Work Log (agents report progress this way)."""
        if not note.strip():
            raise ValidationError("note: the progress note is empty")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            return append_section(task.body, "Work Log", self._note("Work Log", note.strip()))

        return self._change(ref, "progress", None, mutate, reason=note.strip()[:200])

    def move(self, ref: str, state: State | str, *, reason: str | None = None) -> Task:
        """Operator move along the lifecycle table (claims go through :meth:`claim`)."""
        target = State(state)
        if target == State.IN_PROGRESS:
            raise InvalidTransition("moving into in-progress needs a lease: use `aof task claim`")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            meta.pop("lease", None)
            if target != State.BLOCKED:
                meta.pop("blocked", None)
            return None

        return self._change(ref, "moved", target, mutate, reason=reason)

    # --- maintenance ------------------------------------------------------------------

    def doctor(self, *, fix: bool = False) -> Any:
        """Check (and with ``fix`` repair) every invariant; see :mod:`aof.doctor`."""
        from .doctor import run

        return run(self, fix=fix)

    def lint(self) -> list[str]:
        """Validate every file against the schemas; ``file:line: field: message`` strings."""
        from .lint import run

        return run(self)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return out


__all__ = ["PRIORITIES", "Fleet", "append_section"]
