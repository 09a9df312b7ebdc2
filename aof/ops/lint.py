"""``aof lint``: every file of the fleet root checked against ``schemas/`` and each other.

Findings are ``file:line: field: message`` strings, one per problem, in file order, worded
as the rest of aof words them: a task file gets exactly the message ``aof task list`` shows for
it (:meth:`aof.store.tasks.TaskStore.read_checked`), a registry or knowledge card the message
of its noun's validator; ``aof.yaml`` and audit records are checked against their JSON Schema
files, whose errors are put in the same words (:func:`schema_errors`). Cross-file checks (ids
match file names, dependencies, parents and references exist, no dependency cycles) come on
top, and workflows are read as aof reads them and checked against the agent profiles and
every place that names one (:mod:`aof.ops.lint_workflows`). Warnings are keys that are not
fields but a near miss of one (``priorty:``): kept, as every key of yours is, but almost
always a typo.

With ``paths`` (``aof lint PATH...``, ``aof lint --staged``: the git hooks), only those files
are checked, still against every other file (a dependency must exist anywhere in the root);
a dependency cycle is found only when all its tasks are among them. Paths that are not fleet
files (:data:`aof.journal.githook.FLEET_FILES`) or no longer exist are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AofError, ValidationError
from ..files import cardfile
from ..model.resources import schemas_dir
from ..model.task import KEY_ORDER, State, near_miss
from . import lint_workflows

if TYPE_CHECKING:
    from ..service.context import ServiceContext


@cache
def validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((schemas_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    return _validator_for(jsonschema, schema)


def _validator_for(jsonschema: Any, schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def schema_errors(name: str, data: Any) -> list[tuple[str, str]]:
    """(dotted field, message) for each way ``data`` breaks schema ``name``, in words a person
    acts on (the wording of aof's own validators, never jsonschema's text or a regex)."""
    out = []
    for err in sorted(validator(name).iter_errors(data), key=lambda e: list(e.absolute_path)):
        out.append(_friendly(err))
    return out


def _friendly(err: Any) -> tuple[str, str]:
    """One jsonschema error as (dotted field, message)."""
    path = [str(p) for p in err.absolute_path]
    kind, want, got = err.validator, err.validator_value, err.instance
    if kind in ("anyOf", "oneOf") and err.context:
        # `anyOf: [X, null]` and friends: explain the branch that is not "or null".
        branches = [
            e for e in err.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        if branches:
            return _friendly(min(branches, key=lambda e: len(list(e.absolute_path))))
    if kind == "required":
        missing = next((k for k in want if isinstance(got, dict) and k not in got), "?")
        return ".".join([*path, str(missing)]), "is required"
    if kind == "additionalProperties" and isinstance(got, dict):
        extra = sorted(k for k in got if k not in (err.schema.get("properties") or {}))
        return ".".join([*path, *extra[:1]]) or "(top)", "is not a field here"
    where = ".".join(path) or "(top)"
    if kind == "type":
        types = want if isinstance(want, list) else [want]
        words = " or ".join(TYPE_WORDS.get(str(t), str(t)) for t in types)
        return where, f"must be {words} (got {got!r})"
    if kind == "enum":
        return where, f"must be one of {', '.join(map(str, want))} (got {got!r})"
    if kind == "const":
        return where, f"must be {want!r} (got {got!r})"
    if kind in ("minimum", "exclusiveMinimum", "maximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[kind]
        return where, f"must be a number {sign} {want} (got {got!r})"
    if kind in ("minLength", "minItems"):
        return where, f"must not be empty (got {got!r})"
    if kind == "format":
        return where, f"must be an ISO 8601 time, e.g. 2026-11-21T09:30:00Z (got {got!r})"
    if kind == "pattern":
        from ..registry.spec import SLUG

        if want == SLUG["pattern"]:
            return where, f"must be a slug: lower-case letters, digits and '-' (got {got!r})"
        return where, f"is not in the form this field takes (got {got!r})"
    return where, f"is not valid here (got {got!r})"


def run(
    fleet: ServiceContext, paths: Sequence[str] | None = None, warnings: list[str] | None = None
) -> list[str]:
    """Every problem of the fleet root (or of the fleet files among ``paths``) as
    ``file:line: field: message``; near misses of known keys (``priorty:``) go to
    ``warnings`` (they are kept, but almost always a typo)."""
    findings: list[str] = []
    warned: list[str] = [] if warnings is None else warnings
    root = fleet.root
    only = None if paths is None else selected(fleet, paths)
    from ..model.config import read_yaml_file

    named: list[lint_workflows.Named] = []  # the places that name a workflow
    if only is None or "aof.yaml" in only:
        try:
            config = read_yaml_file(root / "aof.yaml")
            for where, msg in schema_errors("config", config):
                findings.append(f"aof.yaml:{_line(root / 'aof.yaml', where)}: {where}: {msg}")
            defaults = config.get("defaults") if isinstance(config, dict) else None
            default = lint_workflows.workflow_name((defaults or {}).get("workflow"))
            if isinstance(defaults, dict) and default:
                line = lint_workflows.nested_line(root / "aof.yaml", "defaults", "workflow")
                named.append((f"aof.yaml:{line}: defaults.workflow", default))
        except AofError as exc:
            findings.append(str(exc).replace(str(root) + "/", ""))
    metas: dict[str, dict[str, dict[str, Any]]] = {}
    findings.extend(_lint_tasks(fleet, warned, only, named))
    findings.extend(_lint_registry(fleet, warned, only, metas, named))
    findings.extend(_lint_knowledge(fleet, warned, only))
    findings.extend(lint_workflows.findings(fleet, warned, only, named, metas.get("agent", {})))
    if only is not None:
        return findings
    problems: list[str] = []
    for rec in fleet.audit.records(problems):
        for where, msg in schema_errors("audit", rec):
            entity = rec.get("entity", {})
            findings.append(
                f"audit: record {rec.get('ts')} #{rec.get('seq')} "
                f"({entity.get('id') if isinstance(entity, dict) else entity}): "
                f"{where}: {msg}"
            )
    findings.extend(problems)
    return findings


def selected(fleet: ServiceContext, paths: Sequence[str]) -> set[str]:
    """The fleet files among ``paths`` (relative to the working directory, or absolute) that
    exist, as paths relative to the root."""
    from ..journal.githook import FLEET_FILES

    out = set()
    for given in paths:
        path = Path(os.path.abspath(given))
        try:
            rel = path.relative_to(fleet.root).as_posix()
        except ValueError:
            raise ValidationError(f"{given}: not in the fleet root {fleet.root}") from None
        if FLEET_FILES.match(rel) and path.is_file():
            out.add(rel)
    return out


def near_misses(rel: str, card: cardfile.Card, known: Iterable[str]) -> list[str]:
    """A warning for each top-level key of ``card`` that looks like a typo of a known key."""
    names = list(known)
    out = []
    for key in card.meta:
        guess = near_miss(key, names)
        if guess is not None:
            out.append(f"{rel}:{card.line_of(key)}: {key}: unknown key; did you mean `{guess}`?")
    return out


def _line(path: Path, dotted: str) -> int:
    key = dotted.split(".")[0]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return 1
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return n
    return 1


def _lint_tasks(
    fleet: ServiceContext,
    warnings: list[str],
    only: set[str] | None = None,
    named: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Each task file checked exactly as ``task list`` checks it (the same messages), then
    ids, dependencies, parents and cycles across files (with ``only``: those files, against
    every other task). The workflow each names goes to ``named`` (checked with the
    workflows)."""
    findings: list[str] = []
    others: dict[str, str] = {}  # tasks not among ``only``: known to exist, not checked
    deps: dict[str, list[str]] = {}
    parents: dict[str, str] = {}
    where: dict[str, str] = {}
    known_states = {s.value for s in State}
    tasks_dir = fleet.tasks.dir
    if tasks_dir.is_dir() and only is None:
        for child in sorted(tasks_dir.iterdir()):
            if child.name not in known_states and not child.name.startswith("."):
                findings.append(f"tasks/{child.name}:1: (path): not a state directory")
    for state, entry in fleet.tasks.scan():
        rel, tid, problem = fleet.tasks.classify(state, entry)
        if only is not None and rel not in only:
            if tid is not None:
                others.setdefault(tid, rel)
            continue
        if problem is not None or tid is None:
            findings.append(str(problem))
            continue
        if tid in where:
            findings.append(f"{rel}:1: id: {tid} is also in {where[tid]} (run `aof doctor --fix`)")
        where.setdefault(tid, rel)
        try:
            card = fleet.tasks.read_checked(Path(entry.path), rel, tid)
        except (AofError, OSError) as exc:
            findings.append(str(exc).replace(entry.path, rel))
            continue
        warnings.extend(near_misses(rel, card, KEY_ORDER))
        if isinstance(card.meta.get("depends_on"), list):
            deps[tid] = [str(d) for d in card.meta["depends_on"]]
        if isinstance(card.meta.get("parent"), str):
            parents[tid] = card.meta["parent"]
        workflow = lint_workflows.workflow_name(card.meta.get("workflow"))
        if named is not None and workflow:
            named.append((f"{rel}:{card.line_of('workflow')}: workflow", workflow))
    for tid, ds in sorted(deps.items()):
        for d in ds:
            if d not in where and d not in others:
                findings.append(f"{where[tid]}:1: depends_on: unknown task {d!r}")
    for tid, parent in sorted(parents.items()):
        if parent not in where and parent not in others:
            findings.append(f"{where[tid]}:1: parent: unknown task {parent!r}")
    findings.extend(_cycles(deps, where))
    return findings


def _cycles(deps: dict[str, list[str]], where: dict[str, str]) -> list[str]:
    out: list[str] = []
    color: dict[str, int] = {}
    for start in sorted(deps):
        if color.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                color[node] = 1
                trail.append(node)
            children = deps.get(node, [])
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if color.get(child) == 1:
                    cycle = [*trail[trail.index(child) :], child]
                    out.append(f"{where[node]}:1: depends_on: cycle {' -> '.join(cycle)}")
                elif not color.get(child):
                    stack.append((child, 0))
            else:
                color[node] = 2
                trail.pop()
    return out


def _lint_registry(
    fleet: ServiceContext,
    warnings: list[str],
    only: set[str] | None = None,
    metas: dict[str, dict[str, dict[str, Any]]] | None = None,
    named: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Every registry card against its noun's rules (the messages of `aof team show` and the
    rest), then every reference across files (with ``only``: the findings in those files).
    ``metas`` gets every card's frontmatter by noun and slug; ``named`` the workflow each
    project and team names (of those in ``only``)."""
    found: list[str] = []
    metas = {} if metas is None else metas
    findings = _registry_findings(fleet, found, only, metas)
    for kind in ("project", "team"):
        for meta in metas.get(kind, {}).values():
            rel, workflow = meta["_rel"], lint_workflows.workflow_name(meta.get("workflow"))
            if named is not None and workflow and (only is None or rel in only):
                named.append((f"{rel}:{meta['_line']('workflow')}: workflow", workflow))
    if only is None:
        warnings.extend(found)
        return findings
    warnings.extend(w for w in found if w.split(":", 1)[0] in only)
    return [f for f in findings if f.split(":", 1)[0] in only]


def _registry_findings(
    fleet: ServiceContext,
    warnings: list[str],
    only: set[str] | None,
    metas: dict[str, dict[str, dict[str, Any]]],
) -> list[str]:
    from ..registry import NOUNS
    from ..registry.spec import references
    from ..registry.spec import validate as validate_noun

    findings: list[str] = []
    metas.update({name: {} for name in NOUNS})
    for noun in NOUNS.values():
        for path, rel, card in _cards(fleet, noun, findings, warnings):
            try:
                validate_noun(noun, card.meta, rel, card.line_of)
            except ValidationError as exc:
                findings.append(str(exc))
            slug = path.name[:-3]
            if card.meta.get("slug") != slug:
                findings.append(
                    f"{rel}:{card.line_of('slug')}: slug: {card.meta.get('slug')!r} "
                    f"does not match the file name {slug!r}"
                )
            metas[noun.name][slug] = {**card.meta, "_rel": rel, "_line": card.line_of}
    for noun in NOUNS.values():
        for _slug, meta in sorted(metas[noun.name].items()):
            for field, ref_kind, target in references(noun, meta):
                if target not in metas[ref_kind]:
                    findings.append(
                        f"{meta['_rel']}:{meta['_line'](field)}: {field}: no {ref_kind} {target!r}"
                    )
    roles = {r for a in metas["agent"].values() for r in (a.get("roles") or [])}
    if only is not None and not any(p.startswith("tasks/") for p in only):
        return findings
    for row in fleet.list_tasks():
        if only is not None and row["path"] not in only:
            continue
        for key, kind in (("team", "team"), ("project", "project")):
            if row.get(key) and row[key] not in metas[kind]:
                findings.append(f"{row['path']}:1: {key}: no {kind} {row[key]!r}")
        routing = row.get("routing") or {}
        if isinstance(routing, dict):
            agent = routing.get("agent")
            if agent and agent not in metas["agent"]:
                findings.append(f"{row['path']}:1: routing.agent: no agent {agent!r}")
            role = routing.get("role")
            if role and role not in roles:
                findings.append(f"{row['path']}:1: routing.role: no agent has the role {role!r}")
    return findings


def _lint_knowledge(
    fleet: ServiceContext, warnings: list[str], only: set[str] | None = None
) -> list[str]:
    """Every knowledge card as `aof knowledge ... show` reads it, and what it refers to."""
    from ..knowledge.spec import TYPES

    findings: list[str] = []
    if only is not None and not any(p.startswith("knowledge/") for p in only):
        return findings
    k = fleet.knowledge
    for type_, noun in TYPES.items():
        for path, rel, card in _cards(fleet, noun, findings, warnings, only):
            try:
                item = k.get(type_, path.name[:-3])
                k.check_refs(item.meta, rel, card.line_of)
            except AofError as exc:
                findings.append(str(exc))
    return findings


def _cards(
    fleet: ServiceContext,
    noun: Any,
    findings: list[str],
    warnings: list[str],
    only: set[str] | None = None,
) -> Iterator[tuple[Path, str, Any]]:
    """(path, rel, card) of each readable card of ``noun`` (of those in ``only``); unreadable
    files and symlinks go to ``findings``, near misses of the noun's keys to ``warnings``."""
    directory = fleet.root / noun.dir
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        if not path.name.endswith(".md") or path.name.startswith("."):
            continue
        rel = f"{noun.dir}/{path.name}"
        if only is not None and rel not in only:
            continue
        if path.is_symlink():
            findings.append(f"{rel}:1: (file): is a symlink; aof does not follow links")
            continue
        try:
            card = cardfile.read(path)
        except (AofError, OSError) as exc:
            findings.append(str(exc).replace(str(path), rel))
            continue
        warnings.extend(near_misses(rel, card, noun.key_order))
        yield path, rel, card
