"""The hand-off note of a run that ended as its context window filled.

When the supervisor stops a run at ``runner.context_stop_pct`` (``context-stopped``), or the
coder's context ran out (``context-exhausted``), the next attempt starts a fresh session: it
knows only what the task file and its prompt tell it. The note says what this run did: why
it ended, the model's last messages, the commits on the task's branch since the run
started and the files they changed, and what is left uncommitted in the worktree. It is
appended to the task body under ``## Hand-off`` (:meth:`aof.Fleet.settle_run`), which every
later attempt's prompt carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..journal.git import run as run_git

SAID_MAX = 400  # characters of each of the model's last messages
COMMITS_MAX = 20
FILES_MAX = 30


CONTEXT_OUTCOMES = ("context-stopped", "context-exhausted")


def handoff_for(
    outcome: str, reason: str, said: Iterable[str], worktree: Any, start: str | None
) -> str | None:
    """The note of a run that ended with ``outcome`` (None unless its context filled)."""
    if outcome not in CONTEXT_OUTCOMES:
        return None
    headline = f"{outcome}: {reason}"
    try:
        return handoff_note(headline, list(said), worktree, start)
    except Exception as exc:  # the run still settles, with what the reason says
        return f"{headline}.\nWhat it did could not be read: {exc}"


def head_of(path: Path) -> str | None:
    """The commit checked out in the worktree at ``path`` (None: none, or not a repository)."""
    proc = run_git(path, "rev-parse", "--verify", "--quiet", "HEAD")
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def handoff_note(
    headline: str, said: list[str], worktree: dict[str, Any] | None, start: str | None
) -> str:
    """The note: ``headline`` (the outcome and its reason), then what the run did."""
    parts = [f"{headline}.", "What this run did, for the next attempt:"]
    messages = [" ".join(text.split()) for text in said if text.strip()]
    if messages:
        parts.append("Its last messages:")
        parts += [f"> {_cut(text, SAID_MAX)}" for text in messages]
    if worktree:
        parts += _work(Path(worktree["path"]), str(worktree["branch"]), start)
    return "\n".join(parts)


def _work(path: Path, branch: str, start: str | None) -> list[str]:
    """Commits since ``start``, the files they changed, and what is not committed."""
    if not path.is_dir():
        return [f"Its worktree is gone; the work is on branch {branch}."]
    out: list[str] = []
    span = f"{start}..HEAD" if start else "HEAD"
    log = run_git(path, "log", "--format=%h %s", f"-n{COMMITS_MAX}", span).stdout.split("\n")
    commits = [line for line in log if line.strip()]
    if commits:
        out.append(f"Commits on branch {branch} since the run started:")
        out += commits
        if start:
            changed = run_git(path, "diff", "--name-only", start, "HEAD").stdout.splitlines()
            out.append(f"Files changed: {_names(changed)}")
    else:
        out.append(f"No commits on branch {branch} since the run started.")
    status = run_git(path, "status", "--porcelain", "--untracked-files=all").stdout
    dirty = [line[3:] for line in status.split("\n") if len(line) > 3]
    if dirty:
        out.append(f"Not committed in the worktree: {_names(dirty)}")
    return out


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:FILES_MAX])
    return shown + (f" (and {len(paths) - FILES_MAX} more)" if len(paths) > FILES_MAX else "")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
