"""The ``git:`` keys of aof.yaml that share a fleet root through a git remote.

``git.remote`` (a remote's name in the root's git config, like ``origin``, or a URL) turns
the sync on: the daemon fetches and merges from it, and pushes to it, every ``git.sync_s``
seconds (default: the scheduler's ``interval_s``); ``git.branch`` is the remote's branch
(default: the branch the root has checked out); ``git.timeout_s`` bounds one fetch or push
(default 20). ``aof sync`` uses the same keys in a person's clone.
"""

from __future__ import annotations

import re
from typing import Any

SYNC_KEYS = ("remote", "branch", "sync_s", "timeout_s")
DEFAULT_TIMEOUT_S = 20.0
REMOTE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}\Z")
URL_RE = re.compile(r"([a-z][a-z0-9+.-]*://\S+|[^\s:/]+@[^\s:]+:\S+|/\S+|file://\S+)\Z")
BRANCH_RE = re.compile(r"(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<![./])\Z")


def validate_git_sync(git: dict[str, Any], bad: Any) -> None:
    """ValidationError (made by ``bad(field, message)``) for anything wrong in the sync keys
    of ``git``."""
    remote = git.get("remote")
    if remote is not None and not (
        isinstance(remote, str)
        and remote.strip() == remote
        and (REMOTE_NAME_RE.match(remote) or URL_RE.match(remote))
        and not remote.startswith("-")
    ):
        raise bad(
            "git.remote",
            f"must be a remote's name (like origin) or a URL, or null (got {remote!r})",
        )
    branch = git.get("branch")
    if branch is not None and not (isinstance(branch, str) and BRANCH_RE.match(branch)):
        raise bad("git.branch", f"must be a branch name, or null for the current (got {branch!r})")
    for key in ("sync_s", "timeout_s"):
        value = git.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise bad(f"git.{key}", f"must be a number > 0 (got {value!r})")


def sync_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The sync keys of a loaded aof.yaml with their defaults: remote (None: no sync),
    branch (None: the current), sync_s (the scheduler's interval), timeout_s."""
    git = data.get("git") or {}
    interval = (data.get("scheduler") or {}).get("interval_s") or 30
    return {
        "remote": git.get("remote") or None,
        "branch": git.get("branch") or None,
        "sync_s": float(git.get("sync_s") or interval),
        "timeout_s": float(git.get("timeout_s") or DEFAULT_TIMEOUT_S),
    }
