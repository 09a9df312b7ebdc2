"""Files only their owner may read: run plans (lease token, coder env), run records,
heartbeats and the tmux pane's environment.

Created 0600 in directories made 0700, whatever the umask, and never through a link: a
name planted as a symlink is refused (``O_NOFOLLOW``), and a temp name is created fresh
(``O_EXCL``) before it replaces the file.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """``path`` made (with its missing parents) and set to owner-only access."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE, follow_symlinks=False)
    return path


def open_private(path: Path) -> int:
    """A new owner-only file at ``path`` (truncated if it is a regular file already), open
    for writing; OSError if ``path`` is a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE)  # fmt: skip
    os.fchmod(fd, FILE_MODE)  # it may have existed with a wider mode
    return fd


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` in an owner-only file."""
    from .atomic import write_text

    write_text(path, text, private=True)
