"""Linux's inotify, read without threads: watch directories, then take what happened.

The kernel queues an event in the same system call that changes a file (a write, a rename,
a ``touch``), so once :meth:`Inotify.read` has taken every queued event, every change made
before it was called is among them. That is what lets a long-lived process trust what it
read earlier: a file no event named since is as it was (a full queue is reported as an
overflow, and then nothing may be trusted). Events name files by the directory watched and
their name in it; a change made through another hard link of a file, or by another machine
on a network share, is not seen.

``Inotify.open()`` is None where inotify is not available (not Linux, or the per-user limit
of instances reached); callers then stat every file, as without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
from typing import NamedTuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# Every change to a file in a directory, or to the directory itself.
CHANGES = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
# The watched directory is gone, moved or no longer watched: what it held is unknown.
LOST = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class Event(NamedTuple):
    wd: int  # the watch (-1 with IN_Q_OVERFLOW)
    mask: int
    name: str  # the file's name in the watched directory ("" for the directory itself)


def parse(data: bytes) -> list[Event]:
    """The events in one read of an inotify descriptor."""
    out = []
    at = 0
    while at + _HEADER.size <= len(data):
        wd, mask, _cookie, size = _HEADER.unpack_from(data, at)
        at += _HEADER.size
        raw = data[at : at + size].split(b"\0", 1)[0]
        at += size
        out.append(Event(wd, mask, os.fsdecode(raw)))
    return out


class Inotify:
    """One inotify instance (non-blocking, closed on exec)."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self.fd = fd
        self._libc = libc

    @classmethod
    def open(cls) -> Inotify | None:
        """A new instance, or None where inotify cannot be had."""
        name = ctypes.util.find_library("c")
        if not name or not hasattr(os, "O_CLOEXEC"):
            return None
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc) if fd >= 0 else None

    def watch(self, directory: str, mask: int = CHANGES) -> int:
        """Watch ``directory`` (never through a symlink); its watch descriptor. OSError when
        it cannot be watched (gone, not a directory, the per-user limit of watches)."""
        wd = self._libc.inotify_add_watch(
            self.fd, os.fsencode(directory), mask | IN_ONLYDIR | IN_DONT_FOLLOW
        )
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), directory)
        return int(wd)

    def unwatch(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[Event]:
        """Every event queued now (none: an empty list); never blocks."""
        out: list[Event] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            except InterruptedError:
                continue
            if not data:
                return out
            out.extend(parse(data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
