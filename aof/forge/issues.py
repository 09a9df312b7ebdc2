"""Issues as tasks: ``aof issues import`` and ``aof agent spawn --issue``.

An open issue of a project's repository becomes one task of that project: the issue's title,
its text under ``## Objective`` with a line naming the issue's URL, and ``issue: {forge,
repo, number, url}`` in the frontmatter (listings show it as ``owner/name#N``). Importing is
idempotent: an issue already imported, in any state, has its task's title and Objective
updated when they changed on the forge, and is never imported twice.

The issue's text is written by whoever opened the issue: a ``## `` heading of it becomes a
``### `` heading (a section of the task body starts only at a ``## `` line), and a line that
looks like an entry aof writes is escaped, so everything it says stays inside the Objective.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import ConfigError, InvalidTransition, NotFound, ValidationError
from ..model.forges import DEFAULT_API_URL
from ..model.task import Task
from ..model.text import section
from .base import Forge, Issue
from .github import repo_of

if TYPE_CHECKING:
    from ..fleet import Fleet

HEADING = "Objective"
TITLE_MAX = 200
_ENTRY = re.compile(r"[-*+]\s+_?\d{4}-\d\d-\d\dT")
_SECTION = re.compile(r"##(?:\s|\Z)")  # what starts a section of a task body


def project_row(fleet: Fleet, slug: str | None) -> dict[str, Any]:
    """The registry row of project ``slug`` (NotFound naming the known ones)."""
    rows = fleet.registry.rows("project")
    if not slug:
        known = ", ".join(sorted(p["slug"] for p in rows)) or "none yet"
        raise ValidationError(f"--project: name the project the issues belong to (known: {known})")
    row = next((p for p in rows if p["slug"] == slug), None)
    if row is None:
        known = ", ".join(sorted(p["slug"] for p in rows)) or "none yet"
        raise NotFound(f"project {slug!r} not found (known: {known})")
    return row


def project_repo(fleet: Fleet, project: dict[str, Any]) -> str:
    """The project's repository on GitHub (``repo``, else read from ``remote_url``)."""
    api = ((fleet.config.data.get("forges") or {}).get("github") or {}).get("api_url")
    repo = repo_of(project, api or DEFAULT_API_URL)
    if repo is None:
        slug = project["slug"]
        raise ConfigError(
            f"project {slug}: no GitHub repository (its remote_url is "
            f"{project.get('remote_url') or 'not set'}); set one with "
            f"`aof project update {slug} --repo OWNER/NAME`"
        )
    return repo


def objective(issue: Issue) -> str:
    """What goes under ``## Objective``: the issue's text (contained) and its URL."""
    text = issue.body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = []
    for line in text.split("\n"):
        if _SECTION.match(line):
            line = "#" + line  # a heading one level down: inside the Objective
        elif _ENTRY.match(line):
            line = "\\" + line
        lines.append(line.rstrip())
    kept = "\n".join(lines).strip("\n") or issue.title
    return f"{kept}\n\nIssue: {issue.url}"


def title_of(issue: Issue) -> str:
    title = " ".join(issue.title.split()) or f"Issue #{issue.number}"
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def with_objective(body: str, text: str) -> str:
    """``body`` with its ``## Objective`` section's text replaced by ``text`` (the section
    is put first when the body has none); every other section is kept as it is."""
    lines = body.split("\n")
    marker = f"## {HEADING}"
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == marker), None)
    if start is None:
        rest = body.strip("\n")
        return f"{marker}\n\n{text}\n" + (f"\n{rest}\n" if rest else "")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
    tail = lines[end:] if end is not None else []
    out = [*lines[: start + 1], "", text, *([""] if tail else []), *tail]
    joined = "\n".join(out)
    return joined if joined.endswith("\n") else joined + "\n"


def link(repo: str, issue: Issue) -> dict[str, Any]:
    return {"forge": "github", "repo": repo, "number": issue.number, "url": issue.url}


def imported(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """``owner/name#N`` -> the listing row of the task imported from that issue (the oldest
    if a hand edit made two), over every state (from the listing cache)."""
    out: dict[str, dict[str, Any]] = {}
    rows = sorted(fleet.list_tasks(), key=lambda r: (str(r.get("created") or ""), r["id"]))
    for row in rows:
        key = row.get("issue")
        if key and key not in out:
            out[str(key)] = row
    return out


@contextmanager
def _importing(fleet: Fleet, repo: str) -> Iterator[None]:
    """One import of ``repo`` at a time (two would both create the same issue's task)."""
    from ..files.locks import lock_for

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", repo)
    with lock_for(layout.lock(fleet.root, f"issues-{safe}.lock"), timeout=120):
        yield


def import_one(
    fleet: Fleet,
    project: dict[str, Any],
    repo: str,
    issue: Issue,
    *,
    ready: bool,
    known: dict[str, dict[str, Any]] | None = None,
) -> tuple[Task, str]:
    """The task of ``issue``, created or brought up to date: (task, created|updated|unchanged)."""
    rows = imported(fleet) if known is None else known
    row = rows.get(f"{repo}#{issue.number}")
    title, text = title_of(issue), objective(issue)
    if row is None:
        task = fleet.create_task(
            title,
            project=project["slug"],
            team=project.get("team"),
            body=f"## {HEADING}\n\n{text}\n",
            ready=ready,
            fields={"issue": link(repo, issue)},
        )
        return task, "created"
    task = fleet.get_task(row["id"])
    changed_title = task.title != title
    changed_text = section(task.body, HEADING) != text.strip()
    if not changed_title and not changed_text:
        return task, "unchanged"
    task = fleet.edit_task(
        task.id,
        title=title if changed_title else None,
        body=with_objective(task.body, text) if changed_text else None,
        expect_rev=task.rev,
    )
    return task, "updated"


def import_issues(
    fleet: Fleet,
    forge: Forge,
    project: str,
    *,
    labels: list[str],
    limit: int,
    ready: bool = False,
) -> list[dict[str, Any]]:
    """Import the open issues (never pull requests) of ``project``'s repository, newest
    first, at most ``limit``, those with every label of ``labels``: one row per issue."""
    proj = project_row(fleet, project)
    repo = project_repo(fleet, proj)
    issues = forge.issues(repo, labels=labels, limit=limit)
    out: list[dict[str, Any]] = []
    with _importing(fleet, repo), fleet.git.batch(f"issues import: {repo}", fleet.actor):
        known = imported(fleet)
        for issue in issues:
            task, action = import_one(fleet, proj, repo, issue, ready=ready, known=known)
            out.append(
                {
                    "issue": issue.number,
                    "repo": repo,
                    "url": issue.url,
                    "title": task.title,
                    "task": task.id,
                    "state": task.state.value,
                    "action": action,
                }
            )
    return out


def spawn_issue(
    fleet: Fleet,
    forge: Forge,
    number: int,
    *,
    project: str | None,
    branch: str | None = None,
    coder: str | None = None,
    model: str | None = None,
    quick: bool = False,
    tmux: bool | None = None,
) -> dict[str, Any]:
    """Start an agent now on issue ``number``'s task (imported first when needed), like
    ``aof agent spawn``: claimed and run in a worktree of the project."""
    from .spawning import start_task

    proj = project_row(fleet, project)
    repo = project_repo(fleet, proj)
    issue = forge.issue(repo, number)
    if issue.state != "open":
        raise InvalidTransition(f"issue {repo}#{number} is {issue.state}: nothing to work on")
    with _importing(fleet, repo), fleet.git.batch(f"agent on issue {repo}#{number}", fleet.actor):
        task, action = import_one(fleet, proj, repo, issue, ready=True)
        row = start_task(fleet, task, proj, branch=branch, coder=coder, model=model,
                         quick=quick, tmux=tmux)  # fmt: skip
    return {**row, "issue": number, "repo": repo, "import": action}
