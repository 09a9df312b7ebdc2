"""The task lifecycle: every verb of DESIGN 3, each one call into the pipeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import format_time
from ..errors import InvalidTransition, NotFound, ValidationError
from ..files import cardfile, yamlfast
from ..journal.audit import Actor
from ..model.task import (
    KEY_ORDER,
    SCHEMA,
    SLUG_RE,
    STATES,
    TERMINAL,
    State,
    Task,
    check_ref,
    failed_attempts,
    field_path,
    near_miss,
    ordered,
    rejections,
    set_field,
    slugify,
    token_sha256,
    unset_field,
    validate,
)
from ..model.text import append_section, defused
from ..store.tasks import Located
from .pipeline import PROTECTED, FleetBase

if TYPE_CHECKING:
    from ..model.handwritten import Draft

TOKEN_CHARS = 16  # random characters of a lease token after its fence (80 bits)


def _draft_text(card: cardfile.Card, meta: dict[str, Any], body: str) -> str:
    """A hand-written task's new text: the person's frontmatter (comments and all) with the
    fields aof adds, or canonical frontmatter when they wrote none."""
    if not card.frontmatter:
        return "---\n" + yamlfast.dump(meta) + "---\n" + body
    return cardfile.render(card, meta, body)


class Lifecycle(FleetBase):
    """Create, edit and move tasks through their lifecycle (mixed into :class:`aof.Fleet`)."""

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
        self._check_owner(meta, "new task")
        meta = {k: v for k, v in meta.items() if v not in (None, [], {}) or k == "attempts"}
        validate(meta, "new task")
        text_body = body if body is not None else f"## Objective\n\n{meta['title']}\n"
        return self._place_new(meta, text_body, state)

    def adopt(self, path: Path, *, actor: Actor | None = None) -> Task:
        """Adopt the hand-written task at ``path`` (:mod:`aof.model.handwritten`): fill in id,
        schema, created and created_by, rename it to ``<id>-<slug>.md`` where it is, and
        audit and commit its creation by ``actor`` (default: this fleet's actor).

        ValidationError (naming the file, line and field) when it is not a draft or what the
        person wrote is not valid; nothing is changed then.
        """
        from ..model.handwritten import read_draft
        from ..store.tasks import ADOPTED_IN

        path = Path(path)
        state = next((s for s in ADOPTED_IN if path.parent == self.tasks.state_dir(s)), None)
        if state is None:
            raise ValidationError(
                f"{path}: hand-written tasks are adopted in tasks/backlog/ or tasks/ready/ only"
            )
        rel = self.tasks.rel(path)
        draft = read_draft(path)
        if draft is None:
            raise ValidationError(
                f"{rel}:1: not a hand-written task (it needs `title:` in its frontmatter or a "
                "`# Title` first line, and no `id:`)"
            )
        who = actor or self.actor
        for key in PROTECTED - {"schema", "created", "created_by"}:
            if key in draft.meta:
                raise ValidationError(
                    f"{rel}:{draft.card.line_of(key)}: {key}: is managed by aof; remove it"
                )
        title = draft.meta["title"]
        meta = {
            "schema": SCHEMA,
            **draft.meta,
            "id": "t-0000",
            "title": title.strip() if isinstance(title, str) else title,
            "created": self._now(),
            "created_by": str(who),
            "attempts": 0,
        }
        validate(meta, rel, draft.card)
        return self._place_new(meta, draft.body, state, actor=who, src=draft)

    def _place_new(
        self,
        meta: dict[str, Any],
        body: str,
        state: State,
        *,
        actor: Actor | None = None,
        src: Draft | None = None,
    ) -> Task:
        """Give ``meta`` a fresh id and write it as ``tasks/<state>/<id>-<slug>.md`` (from the
        draft ``src``'s file, renamed, when given); audit and commit the creation."""
        if body and not body.endswith("\n"):
            body += "\n"
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
                paths = [path]
                if src is None:
                    text = "---\n" + yamlfast.dump(ordered(meta)) + "---\n" + body
                    cardfile.check_size(text, self.tasks.rel(path), written=True)
                    cardfile.write_new(path, text)
                else:
                    text = _draft_text(src.card, ordered(meta), body)
                    cardfile.check_size(text, self.tasks.rel(src.path), written=True)
                    old = src.path
                    try:
                        cardfile.move_rewrite(
                            old, path, text, cardfile.content_hash(src.card.text), src.card.stamp
                        )
                    except FileNotFoundError:
                        raise NotFound(
                            f"{self.tasks.rel(old)}: gone before it was adopted"
                        ) from None
                    paths.insert(0, old)
                self.tasks._names[tid] = path.name
                self._record(
                    "created",
                    tid,
                    paths,
                    f"task {tid}: created in {state.value}",
                    actor=actor,
                    to=state.value,
                    reason=meta["title"],
                    changes={"adopted": self.tasks.rel(paths[0])} if src is not None else None,
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
        """Change fields and/or the body of a task; ValidationError for bad values or cycles.

        Keys of ``set_fields`` and ``unset`` may be dotted (``budget.usd``): the nested field
        is set, creating the mappings on the way. A top-level key that is not a task field is
        refused, naming the closest field (``priorty``: did you mean ``priority``?), unless the
        task already has it: a person adds keys of their own in the file, and aof keeps them.
        Everything is validated before anything is written.
        """
        for key in [*(set_fields or {}), *unset]:
            top = field_path(key)[0]
            if top in PROTECTED or (key not in (set_fields or {}) and key in ("title",)):
                raise ValidationError(f"field {key}: is managed by aof and cannot be edited")
        new_deps = [self.tasks.locate(d).id for d in add_deps]

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            for key in set_fields or {}:
                top = field_path(key)[0]
                if top in KEY_ORDER or top in task.meta:
                    continue
                guess = near_miss(top)
                raise ValidationError(
                    f"task {task.id}: {top}: not a task field; "
                    + (
                        f"did you mean `{guess}`?"
                        if guess
                        else "a field of your own is added in the file itself, where aof keeps it"
                    )
                )
            if title is not None:
                meta["title"] = title.strip()
            if priority is not None:
                meta["priority"] = priority
            try:
                for key, value in (set_fields or {}).items():
                    set_field(meta, key, value)
            except ValidationError as exc:
                raise ValidationError(f"task {task.id}: {exc}") from None
            for key in unset:
                unset_field(meta, key)
            if {"team", "project"} & {*(set_fields or {}), *unset}:
                self._check_owner(meta, self.tasks.rel(task.path))
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

    def _check_owner(self, meta: dict[str, Any], where: str) -> None:
        """The task's team and project must exist; a project's team is the task's team (filled
        in when the task names only the project), so that team's schedule governs the task."""
        team, project = meta.get("team"), meta.get("project")
        for kind, slug in (("team", team), ("project", project)):
            if not isinstance(slug, str) or not SLUG_RE.match(slug):
                continue  # absent, or not a slug: the schema check names it
            if not self.registry.exists(kind, slug):
                raise ValidationError(
                    f"{where}: {kind}: no {kind} {slug!r} "
                    f"(create it with `aof {kind} create`, or see `aof {kind} list`)"
                )
        if not isinstance(project, str) or not SLUG_RE.match(project):
            return
        owner = self.registry.get("project", project).meta.get("team")
        if team is None and owner:
            meta["team"] = owner
        elif owner and team != owner:
            raise ValidationError(
                f"{where}: team: {team!r} is not the team of project {project!r} ({owner!r}); "
                f"leave --team out, or use --team {owner}"
            )

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
        ready or a dependency is not done. The returned task's lease holds the fencing token
        (``lease["token"]``): it is given to the claimant only, the task file keeps its hash.
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
            limit = int(meta.get("max_attempts") or self.config.scheduler["max_attempts"])
            if failed_attempts(meta) >= limit:
                raise InvalidTransition(
                    f"task {task.id} cannot be claimed: its {limit} attempt(s) are used up "
                    f"(max_attempts {limit}); give it more with "
                    f"`aof task edit {task.id} --set max_attempts={limit + 1}`, or cancel it"
                )
            now = self.clock.now()
            fence = int(meta.get("fence", 0)) + 1
            meta["fence"] = fence
            meta["attempts"] = int(meta.get("attempts", 0)) + 1
            meta.pop("retry_after", None)
            meta.pop("sla_notified", None)  # a new claim is a new SLA period
            secret[:] = [f"{fence}-{self.ids.token(TOKEN_CHARS)}"]
            meta["lease"] = {
                "holder": who.id,
                "token_sha256": token_sha256(secret[0]),
                "acquired": format_time(now),
                "expires": format_time(now + timedelta(seconds=ttl)),
            }
            return None

        secret: list[str] = []
        task = self._change(
            ref,
            "claimed",
            State.IN_PROGRESS,
            mutate,
            actor=who,
            allowed_from=[State.READY],
            conflict_as_claim=True,
        )
        # The claimant's copy (in memory only): the file and the audit keep the hash.
        task.meta["lease"] = {**task.meta["lease"], "token": secret[0]}
        return task

    def heartbeat(self, ref: str, token: str) -> dict[str, Any]:
        """Renew the lease's liveness, no commit (``.aof/heartbeats/``); LeaseError if stale."""
        task = self.tasks.load(ref)
        self._check_token(task, token, Actor("agent", "heartbeat"))
        beat = self._beat(task.id, token)
        return {**beat, "expires": format_time(self.lease_expiry(task) or self.clock.now())}

    def _beat(self, task_id: str, token: str) -> dict[str, Any]:
        """Record that the holder of ``token`` is alive now (checked by the caller)."""
        fence = token.split("-", 1)[0]
        beat = {"id": task_id, "fence": fence, "at": format_time(self.clock.now())}
        from ..files.privatefiles import private_dir, write_private

        path = private_dir(self.root / ".aof" / "heartbeats") / f"{task_id}.json"
        write_private(path, json.dumps(beat))
        return beat

    def release(self, ref: str, *, token: str | None = None, reason: str | None = None) -> Task:
        """Give an in-progress task back to ready (the attempt stays counted)."""

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            return None

        return self._change(
            ref, "released", State.READY, mutate, allowed_from=[State.IN_PROGRESS], reason=reason
        )

    def complete(
        self, ref: str, *, token: str | None, summary: str, outputs: Sequence[str] = ()
    ) -> Task:
        """Report an in-progress task done: to review if its workflow has gates, else done.
        ``outputs`` (files, branches, links the work produced) are listed with the summary."""
        if not summary or not summary.strip():
            raise ValidationError("summary: a completion needs a summary of what was done")
        listed = [str(o).strip() for o in outputs if str(o).strip()]
        if any("\n" in o for o in listed):
            raise ValidationError("outputs: one line each (a path, branch or link)")
        text = defused(summary.strip())
        if listed:
            text += "\n\nOutputs:\n\n" + "\n".join(f"- {o}" for o in listed)
        current = self.tasks.load(ref)
        committed = self._committed_credentials(current)
        if committed:
            self._hold_for_secret(current.id, token, committed)
        gates = self._gates_of(current)
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
                task.body, "Completion Summary", f"{text}\n\n_{self._now()} {self.actor}_"
            )

        return self._change(
            ref,
            "completed",
            target,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=summary.strip().splitlines()[0][:200],
        )

    def _committed_credentials(self, task: Task) -> list[str]:
        """The project's credential files that the task's branch tracks (none: no project,
        no credential files, or no repository of it here)."""
        slug = task.meta.get("project")
        if not isinstance(slug, str) or not self.registry.exists("project", slug):
            return []
        project = self.registry.get("project", slug).meta
        files = [str(f) for f in project.get("credential_files") or []]
        if not files or not project.get("root_path"):
            return []
        from ..journal.repos import is_repo, tracked_credentials
        from ..model.branches import branch_for

        repo = Path(str(project["root_path"])).expanduser()
        if not is_repo(repo):
            return []
        return tracked_credentials(repo, branch_for(task.id, task.meta), files)

    def _hold_for_secret(self, ref: str, token: str | None, files: list[str]) -> None:
        """Block a task whose branch tracks credential files, for a person; then refuse the
        completion (ValidationError naming the files)."""
        branch = None

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            nonlocal branch
            from ..model.branches import branch_for

            self._check_token(task, token, self.actor)
            branch = branch_for(task.id, meta)
            meta.pop("lease", None)
            meta["blocked"] = {
                "reason": f"credential file(s) committed on branch {branch}: {', '.join(files)}",
                "by": str(self.actor),
                "at": self._now(),
            }
            note = (
                f"**Refused** completion: branch {branch} tracks credential file(s) "
                f"{', '.join(files)}. Remove them from the branch's history, then unblock."
            )
            return append_section(task.body, "Questions", self._note(note))

        task = self._change(
            ref,
            "blocked",
            State.BLOCKED,
            mutate,
            allowed_from=[State.IN_PROGRESS],
            reason=f"credential file(s) committed: {', '.join(files)}",
        )
        raise ValidationError(
            f"task {task.id}: branch {branch} tracks credential file(s) {', '.join(files)}: "
            "a secret is committed; the task is blocked for a person"
        )

    def _workflow_of(self, task: Task) -> dict[str, Any]:
        """The task's workflow file as a mapping ({} when the task has none)."""
        name = task.meta.get("workflow") or self.config.defaults.get("workflow")
        if not name:
            return {}
        path = self.root / "workflows" / f"{name}.yaml"
        if not path.is_file():
            raise ValidationError(
                f"{self.tasks.rel(task.path)}: workflow: no file workflows/{name}.yaml"
            )
        from ..model.config import read_yaml_file

        return read_yaml_file(path)

    def _gates_of(self, task: Task) -> list[str]:
        gates = self._workflow_of(task).get("gates") or []
        return [str(g.get("name") if isinstance(g, dict) else g) for g in gates]

    def max_rejections(self, task: Task) -> int:
        """Rejections before the task goes to a person: its workflow's ``max_rejections``,
        else ``workflow.max_rejections`` in aof.yaml (default 3)."""
        cap = self._workflow_of(task).get("max_rejections")
        if cap is None:
            cap = (self.config.data.get("workflow") or {}).get("max_rejections", 3)
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValidationError(
                f"{self.tasks.rel(task.path)}: max_rejections: must be a whole number >= 1 "
                f"(got {cap!r})"
            )
        return int(cap)

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
                return append_section(task.body, "Review", self._note(f"approved: {note}"))
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
        task = self.tasks.load(ref)
        cap = self.max_rejections(task)
        count = rejections(task.meta) + 1
        target = State.BLOCKED if count >= cap else State.READY

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
            if target == State.BLOCKED:
                meta["blocked"] = {
                    "reason": f"rejected {count} time(s) (max_rejections {cap}): a person decides",
                    "by": str(self.actor),
                    "at": self._now(),
                }
            return append_section(task.body, "Review", self._note(f"rejected: {feedback}"))

        return self._change(
            ref, "rejected", target, mutate, allowed_from=[State.REVIEW], reason=feedback
        )

    def block(self, ref: str, *, question: str, token: str | None = None) -> Task:
        """Block an in-progress task on a question for a person; the lease is given up."""
        if not question.strip():
            raise ValidationError("question: blocking needs the question to ask")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            if token is None and self.actor.kind != "agent":
                # The brake a person may pull on a held task without --force: the work
                # stops (the lease is given up) and waits on the question, which is the
                # override's reason in the audit record, so it is never silent.
                before, self.override_lease = self.override_lease, True
                try:
                    self._take_over(task, question.strip())
                finally:
                    self.override_lease = before
            else:
                self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            meta["blocked"] = {
                "reason": "question",
                "question": question.strip(),
                "by": str(self.actor),
                "at": self._now(),
            }
            return append_section(task.body, "Questions", self._note(f"**Q** {question.strip()}"))

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
            return append_section(task.body, "Questions", self._note(f"**A** {text.strip()}"))

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
        exhausted = permanent or failed_attempts(task.meta) >= int(limit)
        target = State.DEADLETTER if exhausted else State.READY

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            meta.pop("lease", None)
            meta["last_error"] = error.strip()
            if not exhausted:
                meta["retry_after"] = format_time(self.clock.now() + self.backoff(attempts))
            return append_section(task.body, "Work Log", self._note(f"failed: {error.strip()}"))

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
            self._take_over(task, reason.strip())
            meta.pop("lease", None)
            return append_section(task.body, "Cancelled", self._note(reason.strip()))

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
        """Append a line to the task's Work Log (agents report progress this way).

        With the holder's token it is also a heartbeat: an agent's own report renews its lease.
        """
        if not note.strip():
            raise ValidationError("note: the progress note is empty")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_token(task, token, self.actor)
            return append_section(task.body, "Work Log", self._note(note.strip()))

        task = self._change(ref, "progress", None, mutate, reason=note.strip()[:200])
        if token is not None:
            self._beat(task.id, token)
        return task

    def move(self, ref: str, state: State | str, *, reason: str | None = None) -> Task:
        """Operator move along the lifecycle table (claims go through :meth:`claim`)."""
        target = State(state)
        if target == State.IN_PROGRESS:
            raise InvalidTransition("moving into in-progress needs a lease: use `aof task claim`")

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._take_over(task, reason)
            meta.pop("lease", None)
            if target != State.BLOCKED:
                meta.pop("blocked", None)
            return None

        return self._change(ref, "moved", target, mutate, reason=reason)

    def _take_over(self, task: Task, why: str | None) -> None:
        """A held task taken from its holder (cancelled or moved by someone without its lease
        token): only as an explicit override with a reason (:meth:`overriding`, the CLI's
        ``--force --reason``), never silently."""
        if task.state != State.IN_PROGRESS or not task.lease:
            return
        if why and not self.audit.reason:
            with self.reason(why):
                self._check_token(task, None, self.actor)
        else:
            self._check_token(task, None, self.actor)
