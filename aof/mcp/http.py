"""Streamable HTTP for the MCP server: ``/mcp``, behind a bearer token.

Every HTTP request must carry ``Authorization: Bearer <token>`` for one of the server's
tokens (compared in constant time); anything else gets 401 before the MCP layer sees it.
The token also says who is calling (aof.mcp.callers). On loopback the SDK also refuses
requests whose Host or Origin is not local (DNS rebinding).

SIGTERM or SIGINT stops the server promptly: running searches are stopped at once
(aof.knowledge.index.STOP) and requests still open after a second are cancelled.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from .callers import Callers, bearer

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def new_token() -> str:
    return "aof_" + secrets.token_urlsafe(24)


def parse_tokens(values: list[str], default_actor: str) -> dict[str, str]:
    """``--token SECRET`` or ``--token SECRET=KIND:NAME`` values as {secret: actor}."""
    from ..errors import ValidationError
    from ..fleetapi import parse_actor

    out: dict[str, str] = {}
    for value in values:
        secret, sep, actor = value.partition("=")
        secret = secret.strip()
        if len(secret) < 16:
            raise ValidationError(
                f"--token: {secret[:4]}...: a token needs at least 16 characters (one is "
                "generated when none is given)"
            )
        out[secret] = str(parse_actor(actor.strip())) if sep else default_actor
    return out


def read_token_file(path: Path) -> list[str]:
    """The ``SECRET[=KIND:NAME]`` lines of a token file (blank lines and ``#`` comments
    skipped). Refused unless it is a regular file of this user that nobody else may read
    or write, so a token kept there stays a secret (and out of ``ps``, unlike ``--token``)."""
    from ..errors import ValidationError

    where = f"--token-file: {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise ValidationError(f"{where}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(f"{where}: not a regular file")
        if st.st_uid != os.getuid():
            raise ValidationError(f"{where}: owned by uid {st.st_uid}, not by this user")
        if st.st_mode & 0o077:
            raise ValidationError(
                f"{where}: mode {stat.S_IMODE(st.st_mode):04o} lets others read or write it; "
                f"make it owner-only (chmod 600 {path})"
            )
        text = fh.read(64 * 1024).decode("utf-8", errors="replace")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class BearerAuth:
    """ASGI middleware: 401 unless the request carries one of the tokens."""

    def __init__(self, app: ASGI, callers: Callers) -> None:
        self.app, self.callers = app, callers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = scope["headers"]
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
            if self.callers.actor_for(bearer(headers)) is None:
                body = json.dumps(
                    {"error": "unauthorized", "message": "a valid bearer token is required"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="aof"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def serve(server: Any, callers: Callers, host: str, port: int) -> None:
    """Serve ``server`` at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    app = BearerAuth(server.streamable_http_app(host=host), callers)
    if host not in LOOPBACK:
        sys.stderr.write(
            f"aof mcp: listening on {host}, not loopback: put TLS in front of it (bearer "
            "tokens travel in clear text over plain HTTP)\n"
        )
    from ..fleetapi import stop_searches

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            stop_searches()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    Server(config).run()
