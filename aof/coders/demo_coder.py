"""The demo coder: a deterministic local "agent" for the first run, the demo and the tests.

It does what a real coder does, minus the model: it works in the git worktree the runner
made for it (``AOF_WORKTREE``; without one, a scratch repository), writes a file describing
the task, commits it, keeps notes in its run folder, and reports through the same protocol
an agent uses: the ``aof`` CLI with ``AOF_TASK_ID``, ``AOF_LEASE_TOKEN`` and ``AOF_ACTOR``
from its environment (on another host, with no fleet root there, the same commands reach the
coordinator through ``AOF_API_URL`` and ``AOF_API_TOKEN``). It prints JSON lines
(``{"demo": EVENT, ...}``) that its adapter normalizes like any coder's stream, token usage
included.

Labels on the task steer it, so tests and demos can show every outcome:

- ``demo:fail``      reports a failure (``aof task fail``): retried with back-off;
- ``demo:ask``       asks a question (``aof task block``) until the task holds an answer
  (``aof task answer``), then commits the answer with its work;
- ``demo:silent``    exits 0 without reporting (a failed attempt, never done);
- ``demo:crash``     exits 3 without reporting;
- ``demo:limit``     prints a usage-limit notice (resets in an hour) and exits 1;
- ``demo:context``   prints a context-window error and exits 1;
- ``demo:fill-context`` works in steps, committing one file a step and reporting its
  context use rising (50,000 tokens of a 200,000 window, then 30,000 more each step) until
  the runner stops it (``runner.context_stop_pct``) or the window is full (then as
  ``demo:context``); an attempt whose task holds a ``## Hand-off`` reads it and finishes;
- ``demo:hang``      prints nothing more and sleeps (for stuck detection and kill);
- ``demo:expensive`` reports 60,000 tokens and $1.50 before it works (for budgets).

Run as a reviewer (``AOF_GATE`` names the review gate) it reads the task and gives a
verdict with ``aof gate approve|reject``: it approves, or rejects once when the task carries
``demo:reject-once`` (and approves the work that comes back).

Each attempt commits something new (the attempt's number is in the file it writes), so a
later attempt, after a rejection, always has a commit of its own.

``AOF_DEMO_SECONDS`` (default 0.2) is how long the "work" takes.
"""

from __future__ import annotations

# Only what the first instant needs: a hundred coders may start at once (see main()).
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

GIT_ID = ["-c", "user.name=aof demo coder", "-c", "user.email=demo@aof.localhost"]


def _event(kind: str, **data: object) -> None:
    import json

    sys.stdout.write(json.dumps({"demo": kind, **data}) + "\n")
    sys.stdout.flush()


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


def _review(task_id: str, labels: set[str], gate: dict[str, object]) -> int:
    """The reviewer's verdict (see the module docstring)."""
    history = gate.get("history")
    sent_back = isinstance(history, list) and any(
        isinstance(h, dict) and h.get("kind") == "review" and h.get("outcome") == "rejected"
        for h in history
    )
    _event("tool", tool="review", input=f"gate {gate.get('current')} of {task_id}")
    if "demo:reject-once" in labels and not sent_back:
        _event("end", outcome="rejected")
        feedback = "The demo reviewer asks for one more pass (demo:reject-once)."
        return _aof("gate", "reject", task_id, "--feedback", feedback)
    _event("end", outcome="approved")
    return _aof("gate", "approve", task_id, "--feedback", "Looks good to the demo reviewer.")


def _work(task_id: str, title: str, text: str, scratch: Path) -> str:
    """Edit and commit in the worktree; return where the commit went."""
    from pathlib import Path

    worktree = os.environ.get("AOF_WORKTREE")
    branch = os.environ.get("AOF_BRANCH") or f"aof/{task_id}"
    if worktree:
        tree = Path(worktree)
        where = f"branch {branch} of {os.environ.get('AOF_PROJECT_ROOT', 'the project')}"
    else:
        tree = scratch / "repo"
        tree.mkdir()
        _git(tree, "init", "-q", "-b", branch)
        where = f"a scratch repository (branch {branch})"
    note = tree / "aof-demo" / f"{task_id}.md"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(f"# {title}\n\n{text}\n\nDone by the demo coder.\n")
    _event("tool", tool="edit", input=str(note.relative_to(tree)))
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", f"{task_id}: {title}")
    _event("tool", tool="git_commit", input=f"{task_id}: {title}")
    return where


def _fill_context(task_id: str, tree: Path) -> int:
    """Commit a step at a time as the context fills (see ``demo:fill-context``)."""
    window = 200_000
    for step in range(1, 100):
        used = min(20_000 + 30_000 * step, window)
        note = tree / "aof-demo" / f"{task_id}-step-{step}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"Step {step} of the long task.\n")
        _git(tree, "add", "-A")
        _git(tree, "commit", "-q", "-m", f"{task_id}: step {step}")
        _event("text", text=f"Step {step} is committed ({note.name}); on to the next one.")
        _event("context_use", used=used, window=window)
        if used >= window:
            break
        time.sleep(float(os.environ.get("AOF_DEMO_SECONDS", "0.2")))
    _event("error", message="Prompt is too long: the context window is exhausted")
    return 1


def _notes(text: str) -> None:
    run_dir = os.environ.get("AOF_RUN_DIR")
    if run_dir:
        with open(os.path.join(run_dir, "notes.md"), "a", encoding="utf-8") as f:
            f.write(text + "\n")


def _scripted(task_id: str, labels: set[str], handoff: bool) -> int | None:
    """The exit code of a scripted ending (see the module docstring); None: do the work."""
    if "demo:expensive" in labels:
        _event("usage", tokens_in=50000, tokens_out=10000, cost_usd=1.5)
        time.sleep(5)  # long enough for the runner to see the budget is spent
    if "demo:crash" in labels:
        _event("end", ok=False, outcome="crash")
        return 3
    if "demo:silent" in labels:
        _event("end", outcome="silent")
        return 0
    if "demo:hang" in labels:
        time.sleep(3600)
        return 0
    if "demo:limit" in labels:
        _event("error", message="You've hit your usage limit. Try again in 1 hour.")
        return 1
    if "demo:fill-context" in labels and not handoff:
        from pathlib import Path

        worktree = os.environ.get("AOF_WORKTREE")
        if not worktree:
            sys.stderr.write("demo coder: demo:fill-context needs a project worktree\n")
            return 2
        return _fill_context(task_id, Path(worktree))
    if "demo:context" in labels:
        _event("error", message="Prompt is too long: the context window is exhausted")
        return 1
    if "demo:fail" in labels:
        _event("end", ok=False, outcome="fail")
        return _aof("task", "fail", "--error", "the demo coder was told to fail (demo:fail)")
    return None


class _Task:
    """What the demo coder reads of its task."""

    def __init__(self, title: str, body: str, meta: dict[str, Any]) -> None:
        self.title, self.body, self.meta = title, body, meta


def _load(task_id: str, root: str | None) -> _Task:
    """The task, from the fleet root, or through the API (``aof task show --json``)."""
    if root:
        from pathlib import Path

        from aof.store.tasks import TaskStore

        task = TaskStore(Path(root).resolve()).load(task_id)
        return _Task(task.title, task.body, dict(task.meta))
    import json
    import subprocess

    shown = subprocess.run(
        [sys.executable, "-m", "aof", "task", "show", task_id, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(shown.stdout)
    return _Task(str(data["title"]), str(data.get("body") or ""), dict(data.get("meta") or {}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    task_id = os.environ.get("AOF_TASK_ID")
    root = os.environ.get("AOF_ROOT")
    remote = bool(os.environ.get("AOF_API_URL") and os.environ.get("AOF_API_TOKEN"))
    if not task_id or not (root or remote) or not os.environ.get("AOF_LEASE_TOKEN"):
        sys.stderr.write(
            "demo coder: AOF_TASK_ID, AOF_LEASE_TOKEN and AOF_ROOT (or AOF_API_URL and "
            "AOF_API_TOKEN) must be set\n"
        )
        return 2
    resumed = argv[1] if argv[:1] == ["--resume"] and len(argv) > 1 else None
    session = resumed or f"demo-{task_id}-{os.getpid()}"
    _event("start", session=session)
    # The "work" comes first: a hundred demo coders started in one tick must not all import
    # aof at once on a small machine (a real coder spends this time waiting on its model).
    time.sleep(float(os.environ.get("AOF_DEMO_SECONDS", "0.2")))
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from aof.model.text import section

    task = _load(task_id, root)
    labels = set(task.meta.get("labels") or [])
    _event("usage", tokens_in=len(task.body), tokens_out=len(task.title), cost_usd=0.0)
    if os.environ.get("AOF_GATE"):
        return _review(task_id, labels, dict(task.meta.get("gate") or {}))
    try:
        handoff = section(task.body, "Hand-off")
        scripted = _scripted(task_id, labels, bool(handoff))
        if scripted is not None:
            return scripted
        answers = [
            line.split("**A**", 1)[1].strip() for line in task.body.splitlines() if "**A**" in line
        ]
        if "demo:ask" in labels and not answers:
            _notes("Asked which option to take; waiting for the answer.")
            _event("end", outcome="ask")
            return _aof("task", "block", "--question", "Which option should I take?")
        objective = section(task.body, "Objective")
        text = objective or "No objective given."
        text += f"\n\nAttempt {task.meta.get('attempts') or 1}."
        if answers:
            text += f"\n\nAnswer taken: {answers[-1]}"
        if handoff:
            text += "\n\nContinued from the hand-off of an earlier attempt."
            _notes("Read the hand-off of the earlier attempt and finished the work.")
        scratch = Path(tempfile.mkdtemp(prefix=f"aof-demo-{task_id}-"))
        try:
            where = _work(task_id, task.title, text, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _notes(f"Committed the work to {where}.")
        _aof("task", "progress", "--note", f"demo coder committed its work to {where}")
        code = _aof("task", "complete", "--summary", f"Done by the demo coder in {where}.")
        _event("end", ok=code == 0, outcome="completed" if code == 0 else f"refused ({code})")
        return code
    except subprocess.CalledProcessError as exc:
        error = (exc.stderr or b"").decode(errors="replace").strip()[-300:]
        _event("end", ok=False, outcome="error", error=error)
        return _aof("task", "fail", "--error", f"demo coder: git failed: {error}")


if __name__ == "__main__":
    sys.exit(main())
