"""Registering the projects :mod:`aof.registry.discover` finds on disk (``aof project
discover``): known ones are matched by path, new ones get a free slug and, with
``register``, are created in one commit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..model.task import slugify
from .discover import find
from .writing import unique_slug

if TYPE_CHECKING:
    from .entries import Registry


def discover(
    reg: Registry,
    roots: list[Path],
    *,
    max_depth: int = 6,
    include_ao_shells: bool = False,
    register: bool = False,
    team: str | None = None,
) -> dict[str, Any]:
    """Find projects under ``roots``; with ``register``, add the new ones to ``team``."""
    if register and not team:
        raise ValidationError("--register needs --team: the team the new projects belong to")
    if team is not None:
        reg.get("team", team)  # NotFound for an unknown team
    found, problems = find(roots, max_depth=max_depth, include_ao_shells=include_ao_shells)
    known = _known_paths(reg)
    taken = set(reg.slugs("project"))
    new: list[tuple[str, dict[str, Any]]] = []
    for item in found:
        item["existing"] = known.get(item["path"])
        if item["existing"]:
            item["slug"] = item["existing"]
            continue
        slug = unique_slug(slugify(Path(item["path"]).name, 60) or "project", taken)
        item["slug"] = slug
        new.append(
            (
                slug,
                {
                    "team": team,
                    "root_path": item["path"],
                    "default_branch": item["default_branch"],
                    "remote_url": item["remote_url"],
                    "ao_project_root": item["ao_project_root"],
                },
            )
        )
    registered = []
    if register and new:
        registered = [e.slug for e in reg.create_many("project", new)]
    for item in found:
        item["registered"] = item["slug"] in registered
    return {
        "found": found,
        "new": [s for s, _ in new],
        "registered": registered,
        "problems": problems,
        "dry_run": not register,
    }


def _known_paths(reg: Registry) -> dict[str, str]:
    """Registered projects by resolved ``root_path`` (then ``ao_project_root``): slug."""
    known = {
        str(Path(r["root_path"]).expanduser().resolve()): r["slug"]
        for r in reg.rows("project")
        if r.get("root_path")
    }
    known.update(
        {
            str(Path(r["ao_project_root"]).expanduser().resolve()): r["slug"]
            for r in reg.rows("project")
            if r.get("ao_project_root")
        }
    )
    return known
