"""Reading and writing files in a fleet root without following links out of it.

Everything a fleet root holds may have been put there by someone aof does not trust (an
agent, a careless edit): a card may be a symlink to ``~/.ssh/id_rsa``, a FIFO that blocks the
first reader forever, or a file far too big to read. So:

- :func:`read_regular` opens with ``O_NOFOLLOW|O_NONBLOCK`` (a link is refused, a FIFO does
  not block), checks with ``fstat`` that it holds a regular file, and reads at most ``limit``
  bytes; anything else is one :class:`~aof.errors.ValidationError` naming the file.
- :func:`check_no_link` refuses a directory reached through a symlink: the fleet root is
  resolved when it is opened, so a path below it whose real path differs passes a link.
- :func:`safe_rel` turns a path named by a caller (or read back from a file) into a normalised
  path relative to the root, or refuses it: no ``..``, nothing absolute outside the root, no
  link on the way.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from ..errors import ValidationError

NOT_REGULAR = "is not a regular file (a FIFO, device or directory); aof does not open it"
RUN_FILE_BYTES = 256 * 1024  # a run's notes, plan or outcome: a page or two, never megabytes


def read_regular(path: Path | str, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` and its stat, never through a link.

    FileNotFoundError when it is missing; ValidationError when it is a link, not a regular
    file (FIFO, device, socket, directory) or bigger than ``limit`` bytes.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValidationError(f"{path}:1: is a symlink; aof does not follow links") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise ValidationError(f"{path}:1: {NOT_REGULAR}") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(f"{path}:1: {NOT_REGULAR}")
        if st.st_size > limit:
            raise ValidationError(
                f"{path}:1: file is {st.st_size} bytes, more than the {limit} it may be"
            )
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew while being read
            raise ValidationError(f"{path}:1: file is more than the {limit} bytes it may be")
        return data, st
    finally:
        os.close(fd)


def open_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`read_regular`)."""
    return read_regular(path, limit)[0]


def read_text_or_none(path: Path | str, limit: int = RUN_FILE_BYTES) -> str | None:
    """The UTF-8 text of a run file, or None when it is missing, a link, not a regular file
    or too big (a file aof did not write is never trusted)."""
    try:
        return open_regular(path, limit).decode("utf-8", errors="replace")
    except (OSError, ValidationError):
        return None


def check_no_link(directory: Path | str) -> None:
    """Refuse (ValidationError) a directory whose path passes through a symlink.

    ``directory`` must come from a resolved root (``Fleet.root`` is), so any difference between
    its real path and its absolute path is a link below the root.
    """
    absolute = os.path.abspath(directory)
    if os.path.realpath(absolute) != absolute:
        raise ValidationError(
            f"{directory}: a symlink is on the way to this directory; aof does not write "
            "through links (replace the link with a real directory)"
        )


def safe_rel(root: Path, path: Path | str) -> str | None:
    """``path`` as a normalised POSIX path relative to ``root``, or None when it is not one aof
    may touch: absolute outside the root, with a ``..``, ``.`` or empty part, or a symlink in
    one of its parent directories (the last part may be anything: the caller lstat()s it)."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(root)
        except ValueError:
            return None
    text = p.as_posix()
    if not text or text.startswith("/") or "\n" in text or '"' in text or "\\" in text:
        return None
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    here = root
    for part in parts[:-1]:
        here = here / part
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return None
        except FileNotFoundError:
            break  # a deleted directory: the path is a deletion, nothing to follow
        except OSError:
            return None
    return str(PurePosixPath(*parts))
