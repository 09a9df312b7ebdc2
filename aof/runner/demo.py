"""The demo coder: a deterministic local "agent" for the first run, the demo and the tests.

It does what a real coder does, minus the model: it works in a git worktree of its own
(a worktree of the project on branch ``aof/<task-id>`` when the project's ``root_path`` is a
git repository, else a scratch repository), writes a file describing the task, commits it,
and reports through the same protocol an agent uses: the ``aof`` CLI with ``AOF_TASK_ID``,
``AOF_LEASE_TOKEN`` and ``AOF_ACTOR`` from its environment.

Labels on the task steer it, so tests and demos can show every outcome:

- ``demo:fail``   reports a failure (``aof task fail``): retried with back-off;
- ``demo:ask``    asks a question (``aof task block``) until the task holds an answer
  (``aof task answer``);
- ``demo:silent`` exits 0 without reporting (the daemon counts a failed attempt);
- ``demo:crash``  exits 3 without reporting.

``AOF_DEMO_SECONDS`` (default 0.2) is how long the "work" takes. Each run appends
``start`` and ``end`` events to ``$AOF_RUN_DIR/events.jsonl``.
"""

from __future__ import annotations

# Only what the first instant needs: a hundred coders may start at once (see main()).
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

GIT_ID = ["-c", "user.name=aof demo coder", "-c", "user.email=demo@aof.localhost"]


def _event(kind: str, **data: object) -> None:
    import json

    run_dir = os.environ.get("AOF_RUN_DIR")
    if not run_dir:
        return
    line = {
        "ts": time.time(),
        "event": kind,
        "task": os.environ.get("AOF_TASK_ID"),
        "token": os.environ.get("AOF_LEASE_TOKEN"),
        "pid": os.getpid(),
        **data,
    }
    with open(os.path.join(run_dir, "events.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def _aof(*args: str) -> int:
    """One report through the CLI, exactly as an agent makes it."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "aof", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(f"aof {args[0]} {args[1]}: {proc.stderr.strip()}\n")
    return proc.returncode


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)


def _work(task_id: str, title: str, objective: str, scratch: Path) -> str:
    """Edit and commit in a worktree; return where the commit went."""
    from pathlib import Path

    project = os.environ.get("AOF_PROJECT_ROOT")
    branch = f"aof/{task_id}"
    if project and (Path(project) / ".git").exists():
        tree = scratch / "worktree"
        base = os.environ.get("AOF_PROJECT_BRANCH", "main")
        _git(Path(project), "worktree", "add", "-q", "-B", branch, str(tree), base)
        where = f"branch {branch} of {project}"
    else:
        tree = scratch / "repo"
        tree.mkdir()
        _git(tree, "init", "-q", "-b", branch)
        where = f"a scratch repository (branch {branch})"
    note = tree / "aof-demo" / f"{task_id}.md"
    note.parent.mkdir(parents=True, exist_ok=True)
    objective = objective or "No objective given."
    note.write_text(f"# {title}\n\n{objective}\n\nDone by the demo coder.\n")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", f"{task_id}: {title}")
    if project and tree.name == "worktree":
        _git(Path(project), "worktree", "remove", "--force", str(tree))
    return where


def main() -> int:
    task_id = os.environ.get("AOF_TASK_ID")
    root = os.environ.get("AOF_ROOT")
    if not task_id or not root or not os.environ.get("AOF_LEASE_TOKEN"):
        sys.stderr.write("demo coder: AOF_ROOT, AOF_TASK_ID and AOF_LEASE_TOKEN must be set\n")
        return 2
    _event("start")
    # The "work" comes first: a hundred demo coders started in one tick must not all import
    # aof at once on a small machine (a real coder spends this time waiting on its model).
    time.sleep(float(os.environ.get("AOF_DEMO_SECONDS", "0.2")))
    import shutil
    import subprocess
    import tempfile

    from aof import Fleet

    task = Fleet(root).get_task(task_id)
    labels = set(task.meta.get("labels") or [])
    try:
        if "demo:crash" in labels:
            _event("end", outcome="crash")
            return 3
        if "demo:silent" in labels:
            _event("end", outcome="silent")
            return 0
        if "demo:fail" in labels:
            _event("end", outcome="fail")
            return _aof("task", "fail", "--error", "the demo coder was told to fail (demo:fail)")
        if "demo:ask" in labels and "**A**" not in task.body:
            _event("end", outcome="ask")
            return _aof("task", "block", "--question", "Which option should I take?")
        objective = task.body.split("## Objective", 1)[-1].split("\n## ", 1)[0].strip()
        from pathlib import Path

        scratch = Path(tempfile.mkdtemp(prefix=f"aof-demo-{task_id}-"))
        try:
            where = _work(task_id, task.title, objective, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _aof("task", "progress", "--note", f"demo coder committed its work to {where}")
        code = _aof("task", "complete", "--summary", f"Done by the demo coder in {where}.")
        _event("end", outcome="completed" if code == 0 else f"refused ({code})")
        return code
    except subprocess.CalledProcessError as exc:
        error = (exc.stderr or b"").decode(errors="replace").strip()[-300:]
        _event("end", outcome="error", error=error)
        return _aof("task", "fail", "--error", f"demo coder: git failed: {error}")


if __name__ == "__main__":
    sys.exit(main())
