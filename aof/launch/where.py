"""Where this user's command server listens, shared by the client and the server.

One server per user and per installation (the Python executable and the aof package it
imports): its socket is ``cli-<key>.sock`` in ``AOF_SERVER_DIR``, else
``$XDG_RUNTIME_DIR/aof``, else ``/tmp/aof-<uid>``. The directory is made private (0700) and
is used only if it is this user's own, a directory, and closed to everyone else: anyone who
could put a socket there could run commands as this user.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib


def server_dir() -> str | None:
    """The server's directory, made if missing; None when it is not safe to use."""
    base = os.environ.get("AOF_SERVER_DIR")
    if not base:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        base = os.path.join(runtime, "aof") if runtime else f"/tmp/aof-{os.getuid()}"
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return base


def socket_path(base: str) -> str:
    """The socket of the server for this Python and this aof package in ``base``."""
    key = zlib.crc32(os.fsencode(sys.executable + "\0" + package_dir()))
    return os.path.join(base, f"cli-{key:08x}.sock")


def package_dir() -> str:
    """The directory of the aof package this code was imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
