"""``aof lint`` of workflows (docs/workflows.md): each ``workflows/<name>.yaml`` read exactly as
aof reads it when a task completes (:func:`aof.model.workflow.parse`, whose messages become
findings with the line of the gate they name), then checked against the rest of the root:

- a review gate needs a reviewer: an agent profile with the gate's role (or the agent it
  names) and every capability it asks for, else the task would wait at it forever;
- every name of a workflow (a task's ``workflow``, a project's or team's, and
  ``defaults.workflow`` in aof.yaml) needs its file, else the task fails to complete.

Keys of a workflow that look like a typo of a known one (``max_rejection:``) are warnings:
the parser ignores keys it does not know, so the cap would silently stay the default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AofError, ValidationError
from ..model.task import near_miss
from ..model.workflow import Workflow, parse

if TYPE_CHECKING:
    from ..service.context import ServiceContext

TOP_KEYS = ("schema", "max_rejections", "gates")
GATE_INDEX = re.compile(r"gates\[(\d+)\]")

# (where, workflow name): ``where`` is ``file:line: field`` of a place that names a workflow
Named = tuple[str, str]


def findings(
    fleet: ServiceContext,
    warnings: list[str],
    only: set[str] | None,
    named: Iterable[Named],
    agents: dict[str, dict[str, Any]],
) -> list[str]:
    """Every workflow file (of those in ``only``) parsed and its review gates checked
    against the agent profiles ``agents`` (slug -> frontmatter); then each place in
    ``named`` whose workflow has no file."""
    out: list[str] = []
    directory = fleet.root / "workflows"
    files = sorted(directory.iterdir()) if directory.is_dir() else []
    for path in files:
        rel = f"workflows/{path.name}"
        if not path.name.endswith((".yaml", ".yml")) or (only is not None and rel not in only):
            continue
        if path.name.endswith(".yml"):
            warnings.append(
                f"{rel}:1: (file name): aof reads workflows/<name>.yaml only; rename it to "
                f"{path.name[:-4]}.yaml"
            )
            continue
        workflow = _parsed(path, rel, out, warnings)
        if workflow is not None:
            out.extend(_reviewers(workflow, path, rel, agents))
    for where, name in named:
        if not (directory / f"{name}.yaml").is_file():
            out.append(f"{where}: no file workflows/{name}.yaml")
    return out


def problem(root: Path, rel: str) -> str | None:
    """The first problem of the workflow file ``rel`` on its own (as ``aof lint`` words it;
    no cross-file check), or None: for a hand edit of it (:mod:`aof.ops.edits`)."""
    out: list[str] = []
    _parsed(root / rel, rel, out, [])
    return out[0] if out else None


def _parsed(path: Path, rel: str, out: list[str], warnings: list[str]) -> Workflow | None:
    """The workflow of ``path``, or None with its problem in ``out``."""
    from ..model.config import read_yaml_file
    from .lint import schema_errors

    try:
        data = read_yaml_file(path)
    except (AofError, OSError) as exc:
        out.append(str(exc).replace(str(path), rel))
        return None
    if isinstance(data, dict):
        for key in data:
            guess = near_miss(str(key), TOP_KEYS)
            if guess is not None:
                warnings.append(
                    f"{rel}:{gate_line(path, str(key))}: {key}: unknown key; did you mean "
                    f"`{guess}`?"
                )
    try:
        workflow = parse(path.name[:-5], data, rel)
    except ValidationError as exc:
        out.append(located(str(exc), path, rel))
        return None
    # The parser is the rule; the schema (for editors) says the same, and were it ever to
    # disagree, lint says so rather than hide it.
    for where, msg in schema_errors("workflow", data):
        out.append(f"{rel}:{gate_line(path, where)}: {where}: {msg}")
    return workflow


def located(message: str, path: Path, rel: str) -> str:
    """A parser message ``rel: field: problem`` as ``rel:line: field: problem``."""
    head = f"{rel}: "
    if not message.startswith(head):
        return message
    rest = message[len(head) :]
    return f"{rel}:{gate_line(path, rest.split(':', 1)[0])}: {rest}"


def _reviewers(
    workflow: Workflow, path: Path, rel: str, agents: dict[str, dict[str, Any]]
) -> list[str]:
    """A finding for each review gate no agent profile can take."""
    out = []
    for i, gate in enumerate(workflow.gates):
        if gate.kind != "review":
            continue
        wanted = set(gate.capabilities)
        caps = f" (with capabilities {', '.join(gate.capabilities)})" if wanted else ""
        where = f"{rel}:{gate_line(path, f'gates[{i}]')}: gates[{i}] ({gate.name}).review"
        if gate.agent is not None:
            profile = agents.get(gate.agent)
            if profile is None:
                out.append(f"{where}.agent: no agent profile {gate.agent!r}")
            elif not wanted <= set(_names(profile.get("capabilities"))):
                out.append(f"{where}.agent: agent profile {gate.agent} lacks capabilities{caps}")
            continue
        able = [
            slug
            for slug, meta in agents.items()
            if gate.role in _names(meta.get("roles"))
            and wanted <= set(_names(meta.get("capabilities")))
        ]
        if not able:
            out.append(f"{where}.role: no agent profile holds role {gate.role}{caps}")
    return out


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def gate_line(path: Path, field: str) -> int:
    """The line of ``field`` (``gates[2] (qa).run``, ``max_rejections``) in the workflow file
    ``path``: the line of the gate's list item, else of the top-level key, else 1."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    key = field.split(".")[0].split("[")[0].strip()
    top = next((n for n, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if top is None:
        return 1
    index = GATE_INDEX.match(field)
    if key != "gates" or index is None:
        return top + 1
    want, seen, indent = int(index.group(1)), -1, None
    for n in range(top + 1, len(lines)):
        line = lines[n]
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = len(line) - len(stripped)
        if lead == 0 and not stripped.startswith("-"):
            break  # the next top-level key
        if stripped.startswith("-") and indent in (None, lead):
            indent, seen = lead, seen + 1
            if seen == want:
                return n + 1
    return top + 1


def nested_line(path: Path, key: str, sub: str) -> int:
    """The line of ``key.sub`` in a YAML file written in block style (else of ``key``, else 1)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    top = next((n for n, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    if top is None:
        return 1
    for n in range(top + 1, len(lines)):
        if lines[n][:1] not in (" ", "\t", "#", ""):
            break  # the next top-level key
        if lines[n].lstrip().startswith(f"{sub}:"):
            return n + 1
    return top + 1


def workflow_name(value: Any) -> str | None:
    """The workflow a field names (None: it names none, or no slug: its own check says so)."""
    from ..model.task import SLUG_RE

    return value if isinstance(value, str) and SLUG_RE.match(value) else None


__all__ = ["findings", "gate_line", "located", "nested_line", "problem", "workflow_name"]
