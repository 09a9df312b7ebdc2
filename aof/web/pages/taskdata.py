"""One task's page: its file, gate history, runs with their log tails, the branch's diff
against its base, its pull request and its audit history.

Run folders are written by agents, so they are read as untrusted: no link is followed, only
regular files are opened, and only the last :data:`TAIL_BYTES` of a log are read. The
outcome of a run is the sealed copy the supervisor keeps, never the agent's own file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ... import layout
from ...errors import AofError
from ...fleet import Fleet
from ...fleetapi import history
from ...model.branches import branch_for
from ...runner.review import diff_of
from ...runner.runlogs import render_event

TAIL_LINES = 40
TAIL_BYTES = 64 * 1024
RUNS_SHOWN = 10
DIFF_MAX = 60_000
FRONTMATTER_MAX = 256 * 1024


def read_safe(path: Path, *, limit: int = TAIL_BYTES, tail: bool = True) -> str:
    """Up to ``limit`` bytes of a regular file (its end with ``tail``, else its start),
    never through a link and never blocking on a FIFO; empty when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        if tail:
            os.lseek(fd, max(st.st_size - limit, 0), os.SEEK_SET)
        return os.read(fd, limit).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def tail_file(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a regular file (of its last :data:`TAIL_BYTES`)."""
    return "\n".join(read_safe(path).splitlines()[-lines:])


def read_small_json(path: Path) -> dict[str, Any]:
    """A small JSON object file, never through a link; empty when it is not one."""
    import json

    text = read_safe(path, tail=False)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def frontmatter_text(fleet: Fleet, rel: str) -> str:
    """The task file's frontmatter as written (between its ``---`` lines)."""
    text = read_safe(fleet.root / rel, limit=FRONTMATTER_MAX, tail=False)
    parts = text.split("\n---", 1) if text.startswith("---") else []
    return parts[0][3:].strip("\n") if parts else ""


def _attempts(root: Path, task_id: str) -> list[str]:
    base = layout.task_runs(root, task_id)
    try:
        names = [n for n in os.listdir(base) if n.isdigit() and not (base / n).is_symlink()]
    except OSError:
        return []
    return sorted(names, key=int)[-RUNS_SHOWN:]


def runs(fleet: Fleet, task_id: str) -> list[dict[str, Any]]:
    """The task's latest runs, newest first: attempt, outcome (sealed), spent, log tail."""
    out = []
    for n in reversed(_attempts(fleet.root, task_id)):
        folder = layout.run_dir(fleet.root, task_id, n)
        outcome = read_small_json(layout.sealed_outcome(fleet.root, task_id, n))
        events = tail_file(folder / "events.jsonl")
        log = "\n".join(render_event(x) for x in events.splitlines()) if events else ""
        out.append(
            {
                "attempt": int(n),
                "path": f"runs/{task_id}/{n}",
                "live": not outcome,
                "outcome": outcome.get("outcome"),
                "reason": outcome.get("reason"),
                "exit_code": outcome.get("exit_code"),
                "spent": outcome.get("spent"),
                "log": log or tail_file(folder / "stdout.log"),
                "stderr": tail_file(folder / "stderr.log", 10),
            }
        )
    return out


def _project(fleet: Fleet, slug: Any) -> dict[str, Any]:
    if not slug:
        return {}
    return next((p for p in fleet.registry.rows("project") if p["slug"] == slug), {})


def diff(fleet: Fleet, meta: dict[str, Any], task_id: str) -> dict[str, Any]:
    """``git diff base...branch`` of the task's branch in its project's repository (cut),
    or why there is none."""
    project = _project(fleet, meta.get("project"))
    branch = branch_for(task_id, meta)
    base = str(project.get("default_branch") or "main")
    repo = project.get("root_path")
    if not repo:
        return {"branch": branch, "base": base, "text": None, "why": "no project repository"}
    path = Path(str(repo)).expanduser()
    if not path.is_dir():
        return {"branch": branch, "base": base, "text": None, "why": f"no directory {path}"}
    text = diff_of(path, base, branch)
    if len(text) > DIFF_MAX:
        text = text[:DIFF_MAX] + f"\n... (cut at {DIFF_MAX} characters)"
    return {"branch": branch, "base": base, "text": text, "why": None}


def task_page(fleet: Fleet, ref: str) -> dict[str, Any]:
    """Everything the task page shows; NotFound for an unknown id."""
    task = fleet.get_task(ref)
    data = fleet.task_json(task, body=True)
    meta = task.meta
    gate: dict[str, Any] = meta["gate"] if isinstance(meta.get("gate"), dict) else {}
    try:
        hist = history(fleet, task.id)
    except AofError:
        hist = {"id": task.id, "records": [], "commits": []}
    return {
        "task": data,
        "frontmatter": meta,
        "gate": {k: v for k, v in gate.items() if k not in ("history", "pr")},
        "gate_history": list(gate.get("history") or []),
        "pr": gate.get("pr") if isinstance(gate.get("pr"), dict) else None,
        "runs": runs(fleet, task.id),
        "diff": diff(fleet, meta, task.id),
        "history": hist,
        "frontmatter_text": frontmatter_text(fleet, str(data["path"])),
        "pending": [{"id": d, "state": s} for d, s in fleet.pending_dependencies(task)],
    }


def available(task: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """The actions a person can take on the task in its state (the dashboard's names)."""
    state = task["state"]
    gate: dict[str, Any] = meta["gate"] if isinstance(meta.get("gate"), dict) else {}
    blocked: dict[str, Any] = meta["blocked"] if isinstance(meta.get("blocked"), dict) else {}
    if state == "blocked":
        return ["answer" if blocked.get("reason") == "question" else "retry", "cancel"]
    if state == "review":
        return (["approve", "reject"] if gate.get("kind") == "human" else []) + ["cancel"]
    if state == "deadletter":
        return ["resurrect", "cancel"]
    if state == "backlog":
        return ["ready", "cancel"]
    if state in ("ready", "in-progress"):
        return ["cancel"]
    return []
