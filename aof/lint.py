"""``aof lint``: every file of the fleet root checked against ``schemas/`` and each other.

Findings are ``file:line: field: message`` strings, one per problem, in file order. Schema
checks use the JSON Schema files (the same ones editors use through yaml-language-server), so
what lint accepts is exactly what the schemas say; cross-file checks (ids match file names,
dependencies and parents exist, no dependency cycles) come on top.

With ``paths`` (``aof lint PATH...``, ``aof lint --staged``: the git hooks), only those files
are checked, still against every other file (a dependency must exist anywhere in the root);
a dependency cycle is found only when all its tasks are among them. Paths that are not fleet
files (:data:`aof.githook.FLEET_FILES`) or no longer exist are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cardfile
from .errors import AofError, ValidationError
from .task import State

if TYPE_CHECKING:
    from .fleet import Fleet


def schemas_dir() -> Path:
    from .service import _resource

    return _resource("schemas")


@cache
def validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((schemas_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    return _validator_for(jsonschema, schema)


def _validator_for(jsonschema: Any, schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(name: str, data: Any) -> list[tuple[str, str]]:
    """(dotted field, message) for each way ``data`` breaks schema ``name``."""
    out = []
    for err in sorted(validator(name).iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        out.append((where, err.message))
    return out


def run(fleet: Fleet, paths: Sequence[str] | None = None) -> list[str]:
    findings: list[str] = []
    root = fleet.root
    only = None if paths is None else selected(fleet, paths)
    from .config import read_yaml_file

    if only is None or "aof.yaml" in only:
        try:
            config = read_yaml_file(root / "aof.yaml")
            for where, msg in schema_errors("config", config):
                findings.append(f"aof.yaml:{_line(root / 'aof.yaml', where)}: {where}: {msg}")
        except AofError as exc:
            findings.append(str(exc).replace(str(root) + "/", ""))
    findings.extend(_lint_tasks(fleet, only))
    findings.extend(_lint_registry(fleet, only))
    findings.extend(_lint_knowledge(fleet, only))
    findings.extend(_lint_workflows(fleet, only))
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


def selected(fleet: Fleet, paths: Sequence[str]) -> set[str]:
    """The fleet files among ``paths`` (relative to the working directory, or absolute) that
    exist, as paths relative to the root."""
    from .githook import FLEET_FILES

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


def _lint_tasks(fleet: Fleet, only: set[str] | None = None) -> list[str]:
    findings: list[str] = []
    deps: dict[str, list[str]] = {}
    parents: dict[str, str] = {}
    where: dict[str, str] = {}
    others: dict[str, str] = {}  # tasks not among ``only``: known to exist, not checked
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
        try:
            card = cardfile.read(Path(entry.path))
        except (AofError, OSError) as exc:
            findings.append(str(exc).replace(entry.path, rel))
            continue
        for field, msg in schema_errors("task", card.meta):
            findings.append(f"{rel}:{card.line_of(field.split('.')[0])}: {field}: {msg}")
        if card.meta.get("id") != tid:
            findings.append(
                f"{rel}:{card.line_of('id')}: id: {card.meta.get('id')!r} does not "
                f"match the file name's id {tid!r}"
            )
        if tid in where:
            findings.append(f"{rel}:1: id: {tid} is also in {where[tid]} (run `aof doctor --fix`)")
        where.setdefault(tid, rel)
        if isinstance(card.meta.get("depends_on"), list):
            deps[tid] = [str(d) for d in card.meta["depends_on"]]
        if isinstance(card.meta.get("parent"), str):
            parents[tid] = card.meta["parent"]
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


def _lint_registry(fleet: Fleet, only: set[str] | None = None) -> list[str]:
    """Every registry card against its schema and rules, then every reference across files
    (with ``only``: the findings in those files)."""
    findings = _registry_findings(fleet, only)
    if only is None:
        return findings
    return [f for f in findings if f.split(":", 1)[0] in only]


def _registry_findings(fleet: Fleet, only: set[str] | None) -> list[str]:
    from .registry import NOUNS
    from .registry.spec import references
    from .registry.spec import validate as validate_noun

    findings: list[str] = []
    metas: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in NOUNS}
    for noun in NOUNS.values():
        for path, rel, card, errors in _cards(fleet, noun, findings):
            if not errors:
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
        for key, kind in (("team", "team"), ("project", "project")):
            if row.get(key) and row[key] not in metas[kind]:
                findings.append(f"{row['path']}:1: {key}: no {kind} {row[key]!r}")
    for state, entry in fleet.tasks.scan():
        rel, _tid, problem = fleet.tasks.classify(state, entry)
        if problem is not None or (only is not None and rel not in only):
            continue
        try:
            meta = cardfile.read(Path(entry.path)).meta
        except (AofError, OSError):
            continue
        routing = meta.get("routing") or {}
        if isinstance(routing, dict):
            agent = routing.get("agent")
            if agent and agent not in metas["agent"]:
                findings.append(f"{rel}:1: routing.agent: no agent {agent!r}")
            role = routing.get("role")
            if role and role not in roles:
                findings.append(f"{rel}:1: routing.role: no agent has the role {role!r}")
    return findings


def _lint_knowledge(fleet: Fleet, only: set[str] | None = None) -> list[str]:
    """Every knowledge card against its schema, the fleet's kinds, and what it refers to."""
    from .knowledge.spec import TYPES

    findings: list[str] = []
    if only is not None and not any(p.startswith("knowledge/") for p in only):
        return findings
    k = fleet.knowledge
    for type_, noun in TYPES.items():
        for path, rel, card, errors in _cards(fleet, noun, findings, only):
            if errors:
                continue
            try:
                item = k.get(type_, path.name[:-3])
                k.check_refs(item.meta, rel, card.line_of)
            except AofError as exc:
                findings.append(str(exc))
    return findings


def _cards(
    fleet: Fleet, noun: Any, findings: list[str], only: set[str] | None = None
) -> Iterator[tuple[Path, str, Any, bool]]:
    """(path, rel, card, had schema errors) of each readable card of ``noun`` (of those in
    ``only``); unreadable files, symlinks and schema errors go to ``findings``."""
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
        errors = schema_errors(noun.name, card.meta)
        for field, msg in errors:
            findings.append(f"{rel}:{card.line_of(field.split('.')[0])}: {field}: {msg}")
        yield path, rel, card, bool(errors)


def _lint_workflows(fleet: Fleet, only: set[str] | None = None) -> list[str]:
    """Every ``workflows/*.yaml`` against schemas/workflow.schema.json."""
    from .config import read_yaml_file

    findings: list[str] = []
    directory = fleet.root / "workflows"
    if not directory.is_dir():
        return findings
    for path in sorted(directory.iterdir()):
        rel = f"workflows/{path.name}"
        if not path.name.endswith((".yaml", ".yml")) or (only is not None and rel not in only):
            continue
        try:
            data = read_yaml_file(path)
        except (AofError, OSError) as exc:
            findings.append(str(exc).replace(str(path), rel))
            continue
        for where, msg in schema_errors("workflow", data):
            findings.append(f"{rel}:{_line(path, where)}: {where}: {msg}")
    return findings
