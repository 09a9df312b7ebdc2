"""The git pre-commit hook ``aof init`` installs in a fleet root: ``aof lint --staged``.

A person's ``git commit`` of fleet files (aof.yaml, tasks, the registry, knowledge,
workflows) is refused when one of the staged files does not pass ``aof lint``, with lint's
findings; other files and aof's own commits (which never run hooks) are not checked. The
hook is silent when all is well. ``git commit --no-verify`` skips it once; deleting
``.git/hooks/pre-commit`` turns it off. It runs the ``aof`` of the Python that ran ``aof
init`` when that still exists, else the ``aof`` on PATH.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

# Paths (relative to the fleet root) of the files `aof lint` checks; also the `files` of
# the pre-commit framework's hook (.pre-commit-hooks.yaml of aof's repository).
FLEET_FILES = re.compile(
    r"^(aof\.yaml|(tasks|teams|projects|hosts|schedules|agents|knowledge)/.+\.md"
    r"|workflows/[^/]+\.ya?ml)$"
)
MARK = "# aof pre-commit hook"

SCRIPT = """#!/bin/sh
{mark}: `aof lint` on the fleet files staged for this commit (installed by `aof init`).
# `git commit --no-verify` skips it once; delete this file to turn it off.
root=$(git rev-parse --show-toplevel) || exit 1
if [ -x {python} ]; then
    set -- {python} -m aof
elif command -v aof >/dev/null 2>&1; then
    set -- aof
else
    echo "aof pre-commit hook: aof is not installed here (commit with --no-verify to skip)" >&2
    exit 1
fi
if ! out=$("$@" --root "$root" lint --staged 2>&1); then
    printf '%s\\n' "$out" >&2
    echo "aof pre-commit hook: commit refused; fix the files above (or commit with --no-verify)" >&2
    exit 1
fi
"""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from .git import run

    return run(root, *args)


def install(root: Path) -> str | None:
    """Write the hook into the root's ``.git/hooks/``; its path, or None when git is set up
    to run other hooks (``core.hooksPath``, shared by other repositories) or a pre-commit hook
    of someone else's is there already: those are left alone."""
    if _git(root, "config", "--get", "core.hooksPath").stdout.strip():
        return None
    proc = _git(root, "rev-parse", "--git-path", "hooks/pre-commit")
    path = root / proc.stdout.strip()
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    if path.exists() and MARK not in path.read_text(encoding="utf-8", errors="replace"):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT.format(mark=MARK, python=shlex.quote(sys.executable)), encoding="utf-8")
    path.chmod(0o755)
    return os.path.relpath(path, root)


def staged(root: Path) -> list[str]:
    """Fleet files added, copied, modified or renamed in the index (in the hook: the index
    of the commit being made), relative to the root."""
    proc = _git(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR", "--relative", "-z")
    if proc.returncode != 0:
        from ..errors import GitError

        raise GitError(f"git diff --cached failed: {proc.stderr.strip()}")
    return [p for p in proc.stdout.split("\0") if p and FLEET_FILES.match(p)]
