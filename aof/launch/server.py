"""The command server: the CLI imported once, a forked child for each call.

``python -m aof.launch.server`` (started by the first call made with ``AOF_SERVER=1`` that
found none) takes a lock beside its socket (a second server exits at once), imports the CLI
and the library behind its everyday commands, and listens on a socket only its user may
open (:mod:`aof.launch.where`); a connection from another user is closed unread.

For each call it forks a child that becomes the caller's process (:mod:`aof.launch.child`)
and runs the command; the server answers ``exit N`` when that child has ended (``128 + n``
when a signal ``n`` ended it) and sends the child's process group each ``signal N`` the
caller forwards, or SIGHUP when the caller is gone (as a closed terminal would). The server
itself runs no command; after one it reads the open tasks of that call's fleet root and holds
them while an inotify watch says they did not change (:mod:`aof.launch.memory`).

It declines a call (``stale``) and stops once any file of the aof package it imported, the
Python executable or a package directory changed since it started, so an upgrade or an edit
never runs old code. It stops when idle for ``AOF_SERVER_IDLE_S`` seconds (default 600),
and on SIGTERM. Its log, ``cli-<key>.log`` beside the socket, has a line per call: the
command's first words (never its arguments) and exit code.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import marshal
import os
import selectors
import signal
import socket
import struct
import sys
import time
from typing import Any, NoReturn

from . import IN_PROCESS
from .where import package_dir, server_dir, socket_path

IDLE_S = 600.0
READ_TIMEOUT_S = 5.0
LOG_MAX_BYTES = 1 << 20


def main() -> None:
    base = server_dir()
    if base is None:
        return
    path = socket_path(base)
    lock = open(path[: -len(".sock")] + ".lock", "a")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server runs
    Server(path, lock).run()


def preload() -> None:
    """Import the CLI and the library: every module of aof but the MCP server, the web
    dashboard, the commands that always run in their caller's process and the ``__main__``
    modules (importing one runs it)."""
    import pkgutil

    commands = (f"aof.cli.{w}" for w in IN_PROCESS if w.isalpha())  # not the options
    skip = ("aof.mcp", "aof.web", "aof.launch", *commands)
    for info in pkgutil.walk_packages([package_dir()], "aof."):
        if not info.name.startswith(skip) and not info.name.endswith("__main__"):
            with contextlib.suppress(ImportError):  # an optional extra that is not installed
                importlib.import_module(info.name)


def fingerprint() -> list[tuple[str, int, int]]:
    """Every file whose change makes this server's code old: the aof package's sources,
    the Python executable, and the package directories (an install or upgrade stamps them)."""
    package = package_dir()
    paths = [sys.executable, *(p for p in sys.path if p.endswith("-packages"))]
    for top, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        paths.extend(os.path.join(top, f) for f in sorted(files) if f.endswith(".py"))
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        out.append((p, st.st_mtime_ns, st.st_size))
    return out


class Server:
    def __init__(self, path: str, lock: Any) -> None:
        self.path, self.lock = path, lock
        self.idle_s = float(os.environ.get("AOF_SERVER_IDLE_S") or IDLE_S)
        self.children: dict[int, socket.socket] = {}
        self.requests: dict[int, dict[str, Any]] = {}  # what each running child was asked
        self.stopping = False
        self.log = _open_log(path[: -len(".sock")] + ".log")
        preload()
        from .memory import Memory

        self.memory = Memory(self._note)
        self.code = fingerprint()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.listener = _listen(path)
        self.ino = os.stat(path).st_ino
        self.select = selectors.DefaultSelector()
        self.select.register(self.listener, selectors.EVENT_READ, "accept")
        self.select.register(self.wake_r, selectors.EVENT_READ, "reap")
        self._note(f"started pid={os.getpid()}")

    def run(self) -> None:
        try:
            self._serve()
        finally:
            self._stop()

    def _serve(self) -> None:
        last = time.monotonic()
        while not (self.stopping and not self.children):
            events = self.select.select(timeout=1.0)
            for key, _mask in events:
                if key.data == "accept":
                    self._accept()
                elif key.data == "reap":
                    self._reap()
                else:
                    self._from_caller(key.fileobj, key.data)  # type: ignore[arg-type]
            if events or self.children:
                last = time.monotonic()
            elif time.monotonic() - last >= self.idle_s:
                self._note("idle: stopping")
                self._stop()
            elif not self.stopping:
                self.memory.refresh()  # a quiet second: read what changed, for the next call
        self._note("stopped")

    # --- a call ---------------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            conn.close()  # another user: never run their command as this one
            return
        try:
            request, fds = _read_request(conn)
        except (OSError, ValueError, EOFError, TypeError):
            conn.close()
            return
        if fingerprint() != self.code:
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                conn.sendall(b"stale\n")
            conn.close()
            self._note("aof changed since this server started: stopping")
            self._stop()
            return
        self.memory.take_events()  # every change made before this call, forgotten
        pid = os.fork()
        if pid == 0:
            self._in_child(conn, request, fds)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also done in the child: whichever comes first
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.requests[pid] = request
        self.select.register(conn, selectors.EVENT_READ, pid)
        self._note(f"call pid={pid} {_words(request['argv'])}")

    def _in_child(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> NoReturn:
        from . import child

        os.setpgid(0, 0)
        self.select.close()
        for sock in (self.listener, conn, *self.children.values()):
            sock.close()
        for fd in (self.wake_r, self.wake_w):
            os.close(fd)
        self.lock.close()  # the server's lock stays the server's
        self.log.close()
        self.memory.close_in_child()
        child.become(request, fds)
        child.run()

    def _from_caller(self, conn: socket.socket, pid: int) -> None:
        try:
            data = conn.recv(256)
        except OSError:
            data = b""
        if not data:  # the caller is gone: hang up on the command, as a terminal would
            self.select.unregister(conn)
            _signal_group(pid, signal.SIGHUP)
            return
        for line in data.decode("ascii", "replace").splitlines():
            word, _, number = line.partition(" ")
            if word == "signal" and number.isdigit():
                _signal_group(pid, int(number))

    def _reap(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self.wake_r, 4096)
        ended = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            ended.append(self.requests.pop(pid))
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            with contextlib.suppress(KeyError, ValueError):
                self.select.unregister(conn)
            with contextlib.suppress(OSError):
                conn.sendall(b"exit %d\n" % code)
            conn.close()
            self._note(f"done pid={pid} exit={code}")
        for request in ended:  # its caller has its answer: list what it may list next
            if not self.stopping:
                self.memory.after_call(request)

    # --- upkeep -----------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        with contextlib.suppress(KeyError, ValueError):
            self.select.unregister(self.listener)
        self.listener.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.ino:  # never another server's socket
                os.unlink(self.path)

    def _note(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with contextlib.suppress(OSError, ValueError):
            self.log.write(f"{stamp}Z {text}\n")
            self.log.flush()


def _listen(path: str) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a server that died left it; the lock says none runs now
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    conn.settimeout(READ_TIMEOUT_S)
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a call passes its three standard streams")
    try:
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            more = conn.recv(1 << 16)
            if not more:
                raise EOFError("the caller hung up")
            data += more
        request = marshal.loads(data[4 : 4 + int.from_bytes(data[:4], "big")])
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return request, fds


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signum)


def _words(argv: list[str]) -> str:
    """The command's name for the log (its group and verb), never an argument's value."""
    from ..cli import LAZY_COMMANDS

    rest = argv[1:]
    at = next((i for i, w in enumerate(rest) if w in LAZY_COMMANDS), None)
    if at is None:
        return "-"
    verb = rest[at + 1 : at + 2]
    words = [rest[at], *(w for w in verb if w.replace("-", "").isalpha() and w.islower())]
    return " ".join(words)


def _open_log(path: str) -> Any:
    with contextlib.suppress(OSError):
        if os.path.getsize(path) > LOG_MAX_BYTES:
            os.truncate(path, 0)
    return open(path, "a", encoding="utf-8")


if __name__ == "__main__":
    main()
