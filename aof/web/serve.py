"""Running the dashboard: a socket, uvicorn, and the sign-in link on stderr.

SIGTERM or SIGINT stops the server: open event streams are closed within
:data:`GRACE_S` seconds.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

from .auth import LOOPBACK

GRACE_S = 2


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def link(host: str, port: int, token: str | None) -> str:
    where = f"[{host}]" if ":" in host else host
    base = f"http://{where}:{port}"
    return f"{base}/signin?token={token}" if token else f"{base}/signin"


def run(app: Any, sock: socket.socket, *, announce: str) -> None:
    """Serve ``app`` on ``sock`` until interrupted; ``announce`` goes to stderr once the
    socket is ready."""
    import uvicorn

    host = sock.getsockname()[0]
    if host not in LOOPBACK:
        sys.stderr.write(
            f"aof serve: listening on {host}, not loopback: put TLS in front of it (tokens and "
            "session cookies travel in clear text over plain HTTP)\n"
        )
    sys.stderr.write(announce + "\n")
    sys.stderr.flush()
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACE_S,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    server.capture_signals = _own_signals(server)  # type: ignore[method-assign]
    server.run(sockets=[sock])


def _own_signals(server: Any) -> Any:
    """SIGTERM and SIGINT ask the server to stop, and the process then exits 0 (uvicorn's
    own handling re-raises the signal, so a clean stop would look like a crash)."""

    @contextlib.contextmanager
    def capture() -> Iterator[None]:
        def stop(signum: int, frame: Any) -> None:
            server.should_exit = True

        before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    return capture
