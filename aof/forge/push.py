"""Pushing a task's branch to its project's remote, and the body of its pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..journal.git import run as run_git
from ..model.text import section
from .base import ForgeError


def remote_of(project: dict[str, Any]) -> str:
    """Where the project's branches are pushed: its ``remote_url``, else ``origin``."""
    return str(project.get("remote_url") or "origin")


def push(repo: Path, remote: str, branch: str, expect: str | None) -> None:
    """Push ``branch`` of ``repo`` to ``remote``. ``expect``: the head the remote had when aof
    last pushed or saw it (the push is refused, not forced, when someone else moved it)."""
    refspec = f"refs/heads/{branch}:refs/heads/{branch}"
    lease = [f"--force-with-lease=refs/heads/{branch}:{expect}"] if expect else []
    proc = run_git(repo, "push", "--quiet", *lease, remote, refspec)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else proc.returncode
        raise ForgeError(f"git push of {branch} to {_shown(remote)} failed: {last}")


def _shown(remote: str) -> str:
    """A remote as it may be shown: no credentials of a URL's user part."""
    if "@" in remote and "://" in remote:
        scheme, rest = remote.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return remote


def pr_body(task_id: str, title: str, body: str, meta: dict[str, Any], repo: str) -> str:
    """The pull request's description: the task, its summary, this round's gate results,
    and ``Closes #N`` for the issue it came from."""
    gate = meta.get("gate") or {}
    parts = [f"**{title}** (aof task `{task_id}`)"]
    objective = section(body, "Objective")
    if objective:
        parts.append(f"## Objective\n\n{objective}")
    summary = section(body, "Completion Summary")
    if summary:
        parts.append(f"## Summary\n\n{summary}")
    rows = [
        h
        for h in gate.get("history") or []
        if h.get("round") == gate.get("round") and h.get("kind") != "pr"
    ]
    if rows:
        lines = [
            f"- {h.get('gate')}: {h.get('outcome')}"
            + (f" on {str(h['sha'])[:10]}" if h.get("sha") else "")
            + (f" by {h['by']}" if h.get("by") else "")
            for h in rows
        ]
        parts.append("## Gates\n\n" + "\n".join(lines))
    issue = meta.get("issue") or {}
    if isinstance(issue, dict) and issue.get("number") and issue.get("repo") in (None, repo):
        parts.append(f"Closes #{issue['number']}")
    parts.append(f"_Opened by aof for task {task_id}._")
    return "\n\n".join(parts)
