"""tmux as a program of this machine: found on PATH and new enough for tmux mode.

Below the runner so that the machine check (``aof doctor``) asks the same question the runner
does before it starts a coder in a tmux pane (:mod:`aof.runner.tmux`).
"""

from __future__ import annotations

import re
import shutil
import subprocess

MIN_VERSION = (3, 0)  # new-session with the command as separate arguments


class TmuxError(RuntimeError):
    pass


def program() -> str:
    """tmux's path; TmuxError when it is not on PATH."""
    found = shutil.which("tmux")
    if found is None:
        raise TmuxError("tmux mode needs tmux on PATH (not found); run headless instead")
    return found


def check_version() -> None:
    """TmuxError unless tmux is installed and at least :data:`MIN_VERSION`."""
    out = subprocess.run([program(), "-V"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    if m and (int(m[1]), int(m[2])) < MIN_VERSION:
        raise TmuxError(
            f"tmux mode needs tmux {'.'.join(map(str, MIN_VERSION))} or newer (found {out.strip()})"
        )
