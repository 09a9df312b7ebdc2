"""Creating, adopting and editing tasks: the verbs that write a task's fields, not its state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, ValidationError
from ..files import cardfile, yamlfast
from ..journal.audit import Actor
from ..model.sla import apply_specs
from ..model.task import (
    KEY_ORDER,
    SCHEMA,
    SLUG_RE,
    State,
    Task,
    check_ref,
    field_path,
    near_miss,
    ordered,
    set_field,
    slugify,
    unset_field,
    validate,
)
from ..store.tasks import Located
from .pipeline import PROTECTED, Pipeline

if TYPE_CHECKING:
    from ..store.drafts import Draft


def _set_sla(meta: dict[str, Any], specs: Sequence[str]) -> None:
    """Apply ``--sla`` specs to ``meta``'s ``sla`` (removed when nothing is left)."""
    if not specs:
        return
    value = apply_specs(meta.get("sla"), specs)
    if value is None:
        meta.pop("sla", None)
    else:
        meta["sla"] = value


def _draft_text(card: cardfile.Card, meta: dict[str, Any], body: str) -> str:
    """A hand-written task's new text: the person's frontmatter (comments and all) with the
    fields aof adds, or canonical frontmatter when they wrote none."""
    if not card.frontmatter:
        return "---\n" + yamlfast.dump(meta) + "---\n" + body
    return cardfile.render(card, meta, body)


class Authoring:
    """Create, adopt and edit tasks (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

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
        sla: Sequence[str] = (),
    ) -> Task:
        """Create a task in backlog (or ready); ValidationError for bad fields or unknown deps.

        ``sla``: specs like ``4h`` or ``review=1d`` (:func:`aof.model.sla.apply_specs`)."""
        state = State.READY if ready else State.BACKLOG
        deps = [self.pipeline.tasks.locate(d).id for d in depends_on]
        parent_id = self.pipeline.tasks.locate(parent).id if parent else None
        meta: dict[str, Any] = {
            "schema": SCHEMA,
            "id": "t-0000",
            "title": title.strip() if isinstance(title, str) else title,
            "priority": priority or self.pipeline.config.defaults.get("priority") or "normal",
            "team": team,
            "project": project,
            "depends_on": list(dict.fromkeys(deps)),
            "parent": parent_id,
            "created": self.pipeline.now(),
            "created_by": str(self.pipeline.actor),
            "attempts": 0,
            "labels": list(dict.fromkeys(labels)),
        }
        for key, value in (fields or {}).items():
            if key in PROTECTED or (key in meta and key not in ("team", "project")):
                raise ValidationError(f"field {key}: cannot be set here")
            meta[key] = value
        if sla:
            meta["sla"] = apply_specs(meta.get("sla"), sla)
        self._check_owner(meta, "new task")
        self._check_workflow(meta, "new task")
        meta = {k: v for k, v in meta.items() if v not in (None, [], {}) or k == "attempts"}
        validate(meta, "new task")
        text_body = body if body is not None else f"## Objective\n\n{meta['title']}\n"
        return self._place_new(meta, text_body, state)

    def adopt(self, path: Path, *, actor: Actor | None = None) -> Task:
        """Adopt the hand-written task at ``path`` (:mod:`aof.store.drafts`): fill in id,
        schema, created and created_by, rename it to ``<id>-<slug>.md`` where it is, and
        audit and commit its creation by ``actor`` (default: this fleet's actor).

        ValidationError (naming the file, line and field) when it is not a draft or what the
        person wrote is not valid; nothing is changed then.
        """
        from ..store.drafts import read_draft
        from ..store.summary import ADOPTED_IN

        path = Path(path)
        state = next(
            (s for s in ADOPTED_IN if path.parent == self.pipeline.tasks.state_dir(s)), None
        )
        if state is None:
            raise ValidationError(
                f"{path}: hand-written tasks are adopted in tasks/backlog/ or tasks/ready/ only"
            )
        rel = self.pipeline.tasks.rel(path)
        draft = read_draft(path)
        if draft is None:
            raise ValidationError(
                f"{rel}:1: not a hand-written task (it needs `title:` in its frontmatter or a "
                "`# Title` first line, and no `id:`)"
            )
        who = actor or self.pipeline.actor
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
            "created": self.pipeline.now(),
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
        directory = self.pipeline.tasks.dest_dir(state, self.pipeline.clock.now())
        length = 6
        while True:
            tid = "t-" + self.pipeline.ids.token(length)
            meta["id"] = tid
            path = directory / (f"{tid}-{slug}.md" if slug else f"{tid}.md")
            with self.pipeline.tasks.lock(tid):
                if self.pipeline.tasks.exists(tid):
                    length += 1  # a collision: grow the id
                    continue
                paths = [path]
                if src is None:
                    text = "---\n" + yamlfast.dump(ordered(meta)) + "---\n" + body
                    cardfile.check_size(text, self.pipeline.tasks.rel(path), written=True)
                    cardfile.write_new(path, text)
                else:
                    text = _draft_text(src.card, ordered(meta), body)
                    cardfile.check_size(text, self.pipeline.tasks.rel(src.path), written=True)
                    old = src.path
                    try:
                        cardfile.move_rewrite(
                            old, path, text, cardfile.content_hash(src.card.text), src.card.stamp
                        )
                    except FileNotFoundError:
                        raise NotFound(
                            f"{self.pipeline.tasks.rel(old)}: gone before it was adopted"
                        ) from None
                    paths.insert(0, old)
                self.pipeline.tasks.remember(tid, path.name)
                self.pipeline.record(
                    "created",
                    tid,
                    paths,
                    f"task {tid}: created in {state.value}",
                    actor=actor,
                    to=state.value,
                    reason=meta["title"],
                    changes={"adopted": self.pipeline.tasks.rel(paths[0])}
                    if src is not None
                    else None,
                )
            return self.pipeline.tasks.read(Located(tid, state, path))

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
        sla: Sequence[str] = (),
    ) -> Task:
        """Change fields and/or the body of a task; ValidationError for bad values or cycles.
        ``sla``: specs applied to the SLA as it is (:func:`aof.model.sla.apply_specs`).

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
        new_deps = [self.pipeline.tasks.locate(d).id for d in add_deps]

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self.pipeline.check_token(task, token, self.pipeline.actor)
            _refuse_unknown(task, set_fields or {})
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
            _set_sla(meta, sla)
            if {"team", "project"} & {*(set_fields or {}), *unset}:
                self._check_owner(meta, self.pipeline.tasks.rel(task.path))
            if "workflow" in (set_fields or {}):
                self._check_workflow(meta, self.pipeline.tasks.rel(task.path))
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

        return self.pipeline.change(ref, "edited", None, mutate, expect_rev=expect_rev)

    def _check_owner(self, meta: dict[str, Any], where: str) -> None:
        """The task's team and project must exist; a project's team is the task's team (filled
        in when the task names only the project), so that team's schedule governs the task."""
        team, project = meta.get("team"), meta.get("project")
        for kind, slug in (("team", team), ("project", project)):
            if not isinstance(slug, str) or not SLUG_RE.match(slug):
                continue  # absent, or not a slug: the schema check names it
            if not self.pipeline.registry.exists(kind, slug):
                raise ValidationError(
                    f"{where}: {kind}: no {kind} {slug!r} "
                    f"(create it with `aof {kind} create`, or see `aof {kind} list`)"
                )
        if not isinstance(project, str) or not SLUG_RE.match(project):
            return
        owner = self.pipeline.registry.get("project", project).meta.get("team")
        if team is None and owner:
            meta["team"] = owner
        elif owner and team != owner:
            raise ValidationError(
                f"{where}: team: {team!r} is not the team of project {project!r} ({owner!r}); "
                f"leave --team out, or use --team {owner}"
            )

    def _check_workflow(self, meta: dict[str, Any], where: str) -> None:
        """A workflow the task names must be a readable, valid ``workflows/<name>.yaml``."""
        name = meta.get("workflow")
        if isinstance(name, str) and SLUG_RE.match(name):
            from .gates import load_workflow

            load_workflow(self.pipeline.root, name, where)

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
                dep = self.pipeline.tasks.load(current)
            except NotFound:
                raise ValidationError(f"task {task_id}: depends_on: no task {current!r}") from None
            stack.extend((d, [*trail, d]) for d in dep.depends_on)


def _refuse_unknown(task: Task, set_fields: dict[str, Any]) -> None:
    """ValidationError for a key that is neither a task field nor already in the file,
    naming the closest field."""
    for key in set_fields:
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
