"""The one atomic writer of whole files that are not cards: JSON state, records and reports.

A file is written to a temp file beside it (a dot name, unique per process and call), then
``os.replace``-d over the target, so a reader sees the old content or the new, never half of
either, and a crash leaves at most a stray temp file (``aof doctor`` removes old ones). With
``private`` the file is owner-only from its creation (it may hold a token); with ``durable``
its content and directory are fsynced (state that must survive a power cut). Cards (task,
registry and knowledge files) have their own writer with concurrency checks:
:mod:`aof.files.cardfile`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_MODE = 0o600


def write_text(path: Path, text: str, *, private: bool = False, durable: bool = False) -> None:
    """Replace ``path`` with ``text`` atomically (its directory must exist)."""
    write_bytes(path, text.encode("utf-8"), private=private, durable=durable)


def write_bytes(path: Path, data: bytes, *, private: bool = False, durable: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically (its directory must exist)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, FILE_MODE if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        from .durability import sync

        sync(path.parent)


def write_json(
    path: Path,
    data: Any,
    *,
    compact: bool = False,
    private: bool = False,
    durable: bool = False,
) -> None:
    """Replace ``path`` with ``data`` as JSON: indented with a final newline (files people
    read), or ``compact`` (caches and records read by aof only)."""
    text = (
        json.dumps(data, separators=(",", ":"))
        if compact
        else json.dumps(data, indent=2, default=str) + "\n"
    )
    write_text(path, text, private=private, durable=durable)
