"""The outbox: ``.aof/notify/outbox.jsonl``, one JSON line per event, appended by every
process (CLI, MCP server, runner, daemon), read by the daemon's delivery worker.

An append is one ``write(2)`` of one whole line on an ``O_APPEND`` descriptor, under
``.aof/locks/notify.lock`` (the worker takes the same lock to rotate the file, so no line
goes to a file it has just set aside). The worker reads from a cursor (the file's inode and
a byte offset, kept in its state file), so what it reads is what arrived since, never the
history. When everything in the file has been read and it passed :data:`ROTATE_BYTES`, the
worker moves it to ``outbox.1.jsonl`` (the previous one is dropped) and the next append
starts a new file: a cursor on the old inode then means "start at 0".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from .. import layout
from ..files.locks import Lock, lock_for

ROTATE_BYTES = 1 << 20
LOCK_NAME = "notify.lock"


def lock(root: Path) -> Lock:
    return lock_for(layout.lock(root, LOCK_NAME))


def append(root: Path, event: dict[str, Any]) -> None:
    """Append ``event`` to the outbox: one whole line, one write."""
    line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path = layout.notify_outbox(root)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    with lock(root):
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class Cursor(NamedTuple):
    """Where the worker stopped reading: the outbox file's inode and the byte offset."""

    inode: int
    offset: int


class Batch(NamedTuple):
    """Events read from the outbox, the cursor after them, and the bytes read."""

    events: list[dict[str, Any]]
    cursor: Cursor
    read: int


def read_new(root: Path, cursor: Cursor, limit: int = 1 << 20) -> Batch:
    """The whole lines appended since ``cursor`` (at most ``limit`` bytes of them); a line
    still being written is left for the next read. Lines that are not JSON are skipped."""
    path = layout.notify_outbox(root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return Batch([], Cursor(0, 0), 0)
    try:
        st = os.fstat(fd)
        offset = cursor.offset if cursor.inode == st.st_ino and cursor.offset <= st.st_size else 0
        if offset >= st.st_size:
            return Batch([], Cursor(st.st_ino, offset), 0)
        data = os.pread(fd, min(st.st_size - offset, limit), offset)
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("fp") and ev.get("event"):
            events.append(ev)
    return Batch(events, Cursor(st.st_ino, offset + end), end)


def size(root: Path) -> tuple[int, int]:
    """(inode, size) of the outbox now, (0, 0) when there is none: one ``stat``."""
    try:
        st = os.stat(layout.notify_outbox(root), follow_symlinks=False)
    except FileNotFoundError:
        return 0, 0
    return st.st_ino, st.st_size


def rotate(root: Path, cursor: Cursor) -> bool:
    """Set the outbox aside as ``outbox.1.jsonl`` when ``cursor`` read all of it and it is
    over :data:`ROTATE_BYTES`; whether it did."""
    path = layout.notify_outbox(root)
    with lock(root):
        inode, now = size(root)
        if inode != cursor.inode or now != cursor.offset or now < ROTATE_BYTES:
            return False
        os.replace(path, layout.notify_outbox(root, 1))
    return True


def tail(path: Path, n: int) -> list[dict[str, Any]]:
    """The last ``n`` JSON lines of ``path``, oldest first, reading from its end (the cost
    follows ``n``, not the file's size)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with fh:
        end = fh.seek(0, os.SEEK_END)
        chunk, data = 1 << 14, b""
        while end > 0 and data.count(b"\n") <= n:
            start = max(0, end - chunk)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
            chunk *= 2
    lines = data.splitlines()
    if end > 0:
        lines = lines[1:]  # the first one may be cut
    out = []
    for raw in lines[-n:] if n else []:
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


__all__ = ["Batch", "Cursor", "append", "read_new", "rotate", "size", "tail"]
