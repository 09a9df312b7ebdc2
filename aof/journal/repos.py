"""Questions about a project's git repository (not the fleet root's own), asked through the
one git runner :func:`aof.journal.git.run`: is a directory a repository, and does a branch
track a project's credential files (a secret committed), where is a branch's head."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ValidationError
from ..model.branches import BRANCH_RE
from .git import run


def is_repo(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is the top of a git repository (has a ``.git``)."""
    return bool(path) and (Path(str(path)) / ".git").exists()


def check_credential_path(rel: str) -> None:
    """ValidationError unless ``rel`` is a relative path inside the project (no ``..``)."""
    if os.path.isabs(rel) or ".." in Path(rel).parts or not Path(rel).parts:
        raise ValidationError(
            f"credential_files: {rel!r} must be a path inside the project (no '..', not absolute)"
        )


def tracked_credentials(repo: Path, branch: str, files: list[str]) -> list[str]:
    """The credential ``files`` that ``branch`` of ``repo`` tracks (a secret committed)."""
    if not files or not BRANCH_RE.match(branch):
        return []
    for rel in files:
        check_credential_path(rel)
    proc = run(
        repo, "ls-tree", "-r", "--name-only", "--full-tree", f"refs/heads/{branch}", "--", *files
    )
    return sorted(set(proc.stdout.split("\n")) - {""}) if proc.returncode == 0 else []


def branch_head(repo: Path, branch: str) -> str | None:
    """The commit ``branch`` of ``repo`` points at (None: no such branch or repository)."""
    if not BRANCH_RE.match(branch) or not is_repo(repo):
        return None
    proc = run(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    sha = proc.stdout.strip()
    return sha if proc.returncode == 0 and sha else None
