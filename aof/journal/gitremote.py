"""Talking to a fleet root's git remote: a fetch and a push, each bounded in time.

A fetch brings the remote branch into a private ref (``refs/aof/sync/theirs``), never into
the user's remote-tracking refs or ``FETCH_HEAD``; a push sends one commit to the remote
branch and tells a refusal because the remote moved (fetch, merge and push again) from a
failure. git runs with no terminal prompt and ssh in batch mode, in a session of its own,
killed with its helpers (ssh, the https helper) when ``timeout_s`` passes: an unreachable
remote costs one bounded attempt and an :class:`Unreachable` error, never a hung daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from ..errors import GitError

THEIRS_REF = "refs/aof/sync/theirs"
GIT = ("git", "-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null")


class Unreachable(GitError):
    """The remote could not be reached, or did not answer within the time allowed."""


def run_bounded(root: Path, args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` in ``root`` with its whole process group killed after ``timeout_s``."""
    env = dict(os.environ)
    env.pop("GIT_INDEX_FILE", None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    connect = max(1, int(timeout_s))
    env.setdefault("GIT_SSH_COMMAND", f"ssh -o BatchMode=yes -o ConnectTimeout={connect}")
    proc = subprocess.Popen(
        [*GIT, *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise Unreachable(
            f"git {args[0]} {args[1] if len(args) > 1 else ''}: no answer within "
            f"{timeout_s:g}s (git.timeout_s)"
        ) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def fetch(root: Path, remote: str, branch: str, timeout_s: float) -> str | None:
    """Fetch ``branch`` of ``remote``; its commit, or None when the remote has no such
    branch yet (an empty remote: the first push makes it). Unreachable when the remote
    cannot be reached; GitError for any other refusal."""
    proc = run_bounded(
        root,
        [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            remote,
            f"+refs/heads/{branch}:{THEIRS_REF}",
        ],
        timeout_s,
    )
    if proc.returncode != 0:
        err = _last(proc.stderr)
        if "couldn't find remote ref" in proc.stderr:
            return None
        raise Unreachable(f"git fetch {remote} {branch} failed: {err}")
    sha = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", THEIRS_REF],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return sha or None


def push(root: Path, remote: str, branch: str, sha: str, timeout_s: float) -> bool:
    """Push commit ``sha`` to ``branch`` of ``remote``: True when done, False when the
    remote refused because it moved since the fetch (fetch, merge and push again).
    Unreachable when the remote cannot be reached; GitError for any other refusal."""
    proc = run_bounded(
        root, ["push", "--porcelain", remote, f"{sha}:refs/heads/{branch}"], timeout_s
    )
    if proc.returncode == 0:
        return True
    text = proc.stdout + proc.stderr
    if any(w in text for w in ("[rejected]", "non-fast-forward", "fetch first", "stale info")):
        return False
    if "[remote rejected]" in text:
        raise GitError(f"git push {remote} {branch}: the remote refused: {_last(text)}")
    raise Unreachable(f"git push {remote} {branch} failed: {_last(proc.stderr or text)}")


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no message"
