"""Creating a fleet root: the template's files, aof's schemas for editors, a git repository."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .. import layout
from ..errors import RootExists
from ..files import cardfile
from ..journal.audit import check_reason
from ..model.config import CONFIG_NAME
from ..model.resources import schemas_dir, template_dir
from ..model.task import slugify
from ..store.context import FleetContext

EXAMPLE_DIR = "example"  # in the template: the files `aof init --example` adds


class NewRoot(NamedTuple):
    """A fleet root just written: where, its name, and the files it was given."""

    root: Path
    name: str
    files: list[Path]


def write(
    path: str | os.PathLike[str], *, name: str | None, example: bool, reason: str | None
) -> NewRoot:
    """Write a fleet root at ``path`` from the template and make it a git repository;
    RootExists if one is there (see :meth:`aof.Fleet.init`)."""
    check_reason(reason)  # refused before anything is written
    root = Path(path).expanduser().resolve()
    if (root / CONFIG_NAME).exists():
        raise RootExists(f"{root}: already a fleet root ({CONFIG_NAME} exists); not touching it")
    files = _template_files(example)
    clashes = [rel for rel in files if (root / rel).exists()]
    if clashes:
        raise RootExists(f"{root}: would overwrite {clashes[0]}; init needs a fresh directory")
    root.mkdir(parents=True, exist_ok=True)
    fleet_name = name or slugify(root.name) or "fleet"
    for rel, src in files.items():
        dst = root / rel
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
    return NewRoot(root, fleet_name, list(files))


def record(fleet: FleetContext, new: NewRoot) -> None:
    """Audit the new root's creation and commit its files."""
    _, audit_path = fleet.audit.append(fleet.actor, "init", ("fleet", new.name), reason="aof init")
    fleet.git.commit(
        [*new.files, audit_path],
        f"fleet {new.name}: initialised by aof ({fleet.actor})",
        fleet.actor,
    )


def _template_files(example: bool) -> dict[Path, Path]:
    """Where each file of a new fleet root comes from: the template, and aof's schemas."""
    template = template_dir()
    out: dict[Path, Path] = {}
    for src in sorted(p for p in template.rglob("*") if p.is_file()):
        rel = src.relative_to(template)
        if rel.parts[0] != EXAMPLE_DIR:
            out[rel] = src
        elif example:
            out[rel.relative_to(EXAMPLE_DIR)] = src
    for src in sorted(schemas_dir().glob("*.schema.json")):
        out[Path(layout.SCHEMAS) / src.name] = src
    return out
