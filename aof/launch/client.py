"""Hand one call to the command server, wait for its exit code, forward signals meanwhile.

The request is one message: a 4-byte length, then a ``marshal`` of the arguments, working
directory, environment, umask and the text settings of the three standard streams, with the
stream descriptors themselves passed as ``SCM_RIGHTS``. The server answers one line:
``exit N`` once the command's process has ended, or ``stale`` when it declines (it is older
than the installed aof; nothing ran). While the command runs, SIGINT, SIGTERM and SIGHUP
sent to this process are sent on to it as ``signal N`` lines; so are Ctrl-Z (SIGTSTP: the
command stops, then this process) and the shell's ``fg`` or ``bg`` (SIGCONT), as for a
command that is this process's own child.

Only ``_socket``, ``_signal`` and ``marshal`` are imported here (``socket`` and ``signal``
would bring ``enum``): the point of the server is a call that does not pay for imports.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import _socket
import marshal
import os
import sys

from .where import server_dir, socket_path

FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
LOST = (
    "Error: the command server stopped before the command finished; it may or may not have "
    "taken effect (`aof audit` shows what did)"
)


def call(argv: list[str]) -> int | None:
    """Run ``argv`` through the server: its exit code, or None when no server took the call
    (none runs, it declined, or this process's streams cannot be handed over)."""
    base = server_dir()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    if base is None or any(s is None for s in streams):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(socket_path(base))
        _send(sock, _request(argv, streams))
    except OSError:
        sock.close()
        return None
    for signum in FORWARDED:
        _signal.signal(signum, lambda n, _frame: _tell(sock, n))
    _signal.signal(_signal.SIGTSTP, lambda n, _frame: _stop(sock))
    _signal.signal(_signal.SIGCONT, lambda n, _frame: _tell(sock, n))
    reply = _reply(sock)
    sock.close()
    for signum in (_signal.SIGTSTP, _signal.SIGCONT):
        _signal.signal(signum, _signal.SIG_DFL)
    if reply == "stale":
        for signum in FORWARDED:
            default = _signal.default_int_handler if signum == _signal.SIGINT else _signal.SIG_DFL
            _signal.signal(signum, default)
        return None
    if reply.startswith("exit "):
        return int(reply[5:])
    print(LOST, file=sys.stderr)
    return 70


def start_server() -> None:
    """Start the server in the background (it exits at once if another one runs)."""
    if server_dir() is None:
        return
    import subprocess

    try:  # noqa: SIM105 - contextlib would cost every call its import
        subprocess.Popen(
            [sys.executable, "-m", "aof.launch.server"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
        )
    except OSError:
        pass


def _request(argv: list[str], streams: tuple[object, ...]) -> bytes:
    mask = os.umask(0)
    os.umask(mask)
    return marshal.dumps(
        {
            "argv": [sys.argv[0], *argv],
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": mask,
            "streams": [
                (getattr(s, "encoding", None), getattr(s, "errors", None)) for s in streams
            ],
        }
    )


def _send(sock: _socket.socket, body: bytes) -> None:
    data = len(body).to_bytes(4, "big") + body
    fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
    sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    while sent < len(data):
        sent += sock.send(data[sent:])


def _reply(sock: _socket.socket) -> str:
    got = b""
    while not got.endswith(b"\n"):
        try:
            chunk = sock.recv(64)
        except OSError:
            return ""
        if not chunk:
            return ""
        got += chunk
    return got.decode("ascii", "replace").strip()


def _stop(sock: _socket.socket) -> None:
    """Ctrl-Z: stop the command, then this process (the shell's ``fg`` continues both)."""
    _tell(sock, _signal.SIGTSTP)
    os.kill(os.getpid(), _signal.SIGSTOP)


def _tell(sock: _socket.socket, signum: int) -> None:
    try:  # noqa: SIM105 - as above
        sock.send(b"signal %d\n" % signum)
    except OSError:
        pass
