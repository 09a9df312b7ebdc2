"""Finding projects on disk: git repositories (a ``.git`` directory or gitfile) and ``.ao``
projects, under one or more search roots.

Better than ao-fleet's walk in three ways: it descends into repositories, so repositories
nested in others are found; an unreadable folder is reported and skipped, never fatal; remote
URLs lose embedded credentials (``https://user:token@host`` -> ``https://host``) but keep scp
forms intact. Symlinked folders are not followed (no cycles, nothing outside the roots).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

SKIP = frozenset(
    {
        ".git",
        ".ao",
        ".aof",
        "node_modules",
        "target",
        "dist",
        "build",
        ".next",
        ".turbo",
        ".venv",
        "venv",
        "__pycache__",
        "vendor",
        "third_party",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
    }
)


def _git_dir(path: Path) -> Path | None:
    dot = path / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():
        try:
            text = dot.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if text.startswith("gitdir:"):
            return (path / text[7:].strip()).resolve()
    return None


def _branch(git_dir: Path) -> str:
    return _checked_out(git_dir) or "main"


def _checked_out(git_dir: Path) -> str | None:
    """The branch HEAD names in ``git_dir``, or None (unreadable, or detached)."""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] if head.startswith(prefix) else None


def head_branch(repo: str | os.PathLike[str]) -> str | None:
    """The branch checked out in the repository at ``repo`` (``main``, ``master``, ...), or
    None when it is not a git repository or its HEAD is detached."""
    git_dir = _git_dir(Path(repo).expanduser())
    return _checked_out(git_dir) if git_dir is not None else None


def _remote(git_dir: Path) -> str | None:
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    try:
        config = (common / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    remotes = re.findall(r'\[remote "([^"]+)"\]([^\[]*)', config)
    urls = {
        name: m.group(1).strip()
        for name, body in remotes
        if (m := re.search(r"^\s*url\s*=\s*(.+)$", body, re.M))
    }
    url = urls.get("origin") or next(iter(urls.values()), None)
    if url is None:
        return None
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)  # drop user:token@ from URL forms


def find(
    roots: list[Path], *, max_depth: int = 6, include_ao_shells: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """(projects found, problems) under ``roots``, breadth first, sorted by path."""
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    seen: set[str] = set()
    queue: list[tuple[Path, int]] = [(r.expanduser().resolve(), 0) for r in roots]
    while queue:
        path, depth = queue.pop(0)
        real = str(path)
        if real in seen:
            continue
        seen.add(real)
        git_dir = _git_dir(path)
        has_ao = (path / ".ao").is_dir()
        if git_dir is not None or (has_ao and include_ao_shells):
            found[real] = {
                "path": real,
                "kind": "git+ao" if git_dir and has_ao else "git" if git_dir else "ao",
                "default_branch": _branch(git_dir) if git_dir else "main",
                "remote_url": _remote(git_dir) if git_dir else None,
                "ao_project_root": real if has_ao else None,
            }
        if depth >= max_depth:
            continue
        try:
            with os.scandir(path) as it:
                children = sorted(
                    Path(e.path)
                    for e in it
                    if e.is_dir(follow_symlinks=False) and e.name not in SKIP
                )
        except OSError as exc:
            problems.append(f"{path}: cannot read ({exc.strerror or exc}); skipped")
            continue
        queue.extend((child, depth + 1) for child in children)
    return [found[k] for k in sorted(found)], problems
