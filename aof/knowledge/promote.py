"""Learnings from runs: a finished run's notes promoted to a knowledge document.

A run leaves the coder's own notes in ``runs/<task>/<attempt>/`` (plan.md, notes.md,
status.md, questions.md: what the runner asks every coder to keep) and the task keeps its
completion summary. :func:`promote` gathers those into a document whose ``provenance`` says
where it came from: the task, the attempt and run folder, the run's outcome, and the commit
its branch points at in the project's repository (else the fleet root's commit). The agent
writes its run folder, so its files are read without following links, regular files only and
at most 256 KiB each (:mod:`aof.files.safefs`), and the outcome is the one the run's supervisor
sealed when it settled the run (:func:`aof.store.runfiles.read_outcome`).

Promotion is idempotent: the same task and attempt, or notes whose text an existing
document already holds (case and whitespace aside), give back that document.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import InvalidTransition, NotFound, ValidationError
from ..files.safefs import read_text_or_none
from ..model.task import State
from ..model.text import section
from .index import digest

if TYPE_CHECKING:
    from ..model.task import Task
    from .items import Knowledge

TITLES = {
    "notes.md": "Notes",
    "plan.md": "Plan",
    "status.md": "Status",
    "questions.md": "Questions",
}
SECTION_CAP = 20_000  # characters kept of each run file: a document, not a log


def _git(repo: Path, *args: str) -> str | None:
    from ..journal.git import run

    proc = run(repo, *args)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _commit(k: Knowledge, task: Task) -> dict[str, Any]:
    """The commit the run's work is at: its branch in the project's repo, else the fleet's."""
    from ..model.branches import branch_for

    project = task.meta.get("project")
    branch = branch_for(task.id, task.meta)
    if project and k.fleet.registry.exists("project", project):
        root = k.fleet.registry.get("project", project).meta.get("root_path")
        if root and (Path(root).expanduser() / ".git").exists():
            sha = _git(
                Path(root).expanduser(), "rev-parse", "--verify", "-q", f"{branch}^{{commit}}"
            )
            if sha:
                return {"commit": sha, "branch": branch, "project": project}
    sha = _git(k.root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    return {"commit": sha, "commit_of": "fleet root"} if sha else {}


def _run_dir(k: Knowledge, task: Task, attempt: int | None) -> tuple[int, Path]:
    from ..store.runfiles import attempts as run_attempts
    from ..store.runfiles import read_outcome

    attempts = run_attempts(k.root, task.id)
    if not attempts:
        raise NotFound(f"task {task.id} has no runs (runs/{task.id}/ is empty): nothing to promote")
    n = attempts[-1] if attempt is None else attempt
    if n not in attempts:
        raise NotFound(f"task {task.id} has no run {n} (runs: {', '.join(map(str, attempts))})")
    run_dir = layout.run_dir(k.root, task.id, n)
    live = task.state is State.IN_PROGRESS and n == attempts[-1]
    if live and read_outcome(run_dir) is None:
        raise InvalidTransition(
            f"run {n} of {task.id} has not finished (the task is in progress); "
            "promote it once the run has ended"
        )
    return n, run_dir


def promote(
    k: Knowledge, task_ref: str, *, attempt: int | None = None, kind: str = "learning"
) -> dict[str, Any]:
    """Promote the notes of run ``attempt`` (default: the last) of ``task_ref``."""
    from ..store.runfiles import read_outcome

    task = k.fleet.get_task(task_ref)
    n, run_dir = _run_dir(k, task, attempt)
    parts = []
    for name, heading in TITLES.items():
        # Never through a link, a regular file only, size-capped: the agent writes this folder.
        text = (read_text_or_none(run_dir / name) or "").strip()
        if text:
            if len(text) > SECTION_CAP:
                text = text[:SECTION_CAP] + "\n\n(cut: the rest is in the run's " + name + ")"
            parts.append((heading, text))
    summary = section(task.body, "Completion Summary")
    if summary:
        parts.append(("Completion summary", summary))
    if not parts:
        raise ValidationError(
            f"run {n} of {task.id}: nothing to promote (no plan.md, notes.md, status.md or "
            "questions.md in runs/" + f"{task.id}/{n}/, and no completion summary)"
        )
    outcome = read_outcome(run_dir) or {}
    provenance: dict[str, Any] = {
        "task": task.id,
        "attempt": n,
        "run": f"runs/{task.id}/{n}",
        **({"outcome": outcome["outcome"]} if outcome.get("outcome") else {}),
        **_commit(k, task),
    }
    body = "\n\n".join(f"## {heading}\n\n{text}" for heading, text in parts) + "\n"
    for meta in k.index.metas("document"):
        prov = meta.get("provenance") or {}
        if prov.get("task") == task.id and prov.get("attempt") == n:
            return _found(k, meta["slug"], f"run {n} of {task.id} was promoted before")
    same = k.index.digests("document", fresh=False).get(digest(body))
    if same:
        return _found(k, same, "a document already holds these notes")
    first = next(
        (ln.strip("-* ").strip() for ln in (summary or parts[0][1]).splitlines() if ln.strip()), ""
    )
    scope: dict[str, Any] = {"scope": "company"}
    for key in ("project", "team"):
        ref = task.meta.get(key)
        if ref and k.fleet.registry.exists(key, ref):
            scope = {"scope": key, "scope_ref": ref}
            break
    labels = [str(x) for x in task.meta.get("labels") or [] if str(x).strip()]
    fields = {
        "title": f"Learnings from {task.id}: {task.title}",
        "summary": first[:300] or None,
        "kind": kind,
        **scope,
        "tags": ["promoted", *[x for x in labels if x != "promoted"]],
        "provenance": provenance,
    }
    item = k.create_document(fields, body=body)
    return {
        "created": True,
        "duplicate_of": None,
        "provenance": provenance,
        "document": k.item_json(item, body=False),
    }


def _found(k: Knowledge, slug: str, why: str) -> dict[str, Any]:
    item = k.get("document", slug)
    return {
        "created": False,
        "duplicate_of": why,
        "provenance": item.meta.get("provenance"),
        "document": k.item_json(item, body=False),
    }
