"""The dashboard's front gate: an ASGI middleware that decides who a request is from and
refuses what it must before any handler runs (docs/dashboard.md, "Signing in").

In order: a body over :data:`MAX_BODY` bytes gets 413; the public paths (sign-in, static
files) pass; ``/mcp`` passes to the MCP server's own bearer check; ``/metrics`` passes for a
loopback client, the metrics token or a signed-in caller; everything else needs a bearer
token or a session cookie (a page redirects to the sign-in page, the API answers 401), and a
state-changing request that rides on the cookie must come from the dashboard's origin with
the session's CSRF token (403 otherwise). A run or worker token of the remote API reaches
only what its scope opens (:mod:`aof.web.scopes`; 403 otherwise). The caller lands in
``request.state``: ``actor``, ``csrf`` (None for a bearer client), ``session`` and ``scope``
(None for a person; a run or worker token's kind, task, run and host).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

from .auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    Sessions,
    bearer,
    cookie,
    is_loopback,
    same_secret,
)
from .scopes import refusal

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 256 * 1024
PUBLIC = ("/signin", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)


class Refused(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class Guard:
    def __init__(self, app: ASGI, sessions: Sessions) -> None:
        self.app, self.sessions = app, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        try:
            body = await _read_body(headers, receive) if method not in SAFE_METHODS else None
            public = path in PUBLIC or path.startswith(PUBLIC_PREFIXES) or path == "/mcp"
            if not public and not (path == "/metrics" and self._metrics_open(scope, headers)):
                self._identify(scope, headers, method, body)
        except Refused as no:
            if no.status == 401 and method == "GET" and not _wants_json(path, headers):
                await _redirect(send, "/signin?next=" + quote(_target(scope), safe="/"))
            else:
                await _refuse(send, no)
            return
        if body is not None:
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _metrics_open(self, scope: Scope, headers: dict[str, str]) -> bool:
        token = self.sessions.metrics_token
        given = bearer(headers)
        if token and given and same_secret(token, given):
            return True
        return is_loopback(scope.get("client"))

    def _identify(
        self, scope: Scope, headers: dict[str, str], method: str, body: bytes | None
    ) -> None:
        state = scope.setdefault("state", {})
        given = bearer(headers)
        if given is not None:
            actor = self.sessions.actor_for(given)
            limits = None
            if actor is None:
                limits = self.sessions.scope_for(given)
                if limits is None:
                    raise Refused(401, "unauthorized", "the bearer token is not valid")
                actor = str(limits["actor"])
                why = refusal(limits, method, str(scope["path"]))
                if why is not None:
                    raise Refused(403, "forbidden", why)
            state.update(actor=actor, csrf=None, session=None, scope=limits)
            return
        session = self.sessions.get(cookie(headers))
        state["scope"] = None
        if session is None:
            raise Refused(401, "unauthorized", "sign in first: a token or a session is required")
        if method not in SAFE_METHODS:
            if not self.sessions.same_origin(headers, scope.get("scheme", "http")):
                raise Refused(403, "cross-site", "cross-site request refused (Origin)")
            presented = headers.get(CSRF_HEADER) or _form_field(headers, body, CSRF_FIELD)
            if not presented or not same_secret(presented, session.csrf):
                raise Refused(403, "csrf", "missing or wrong CSRF token; reload the page")
        state.update(actor=session.actor, csrf=session.csrf, session=session.id)


async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "bad-request", f"Content-Length {declared!r} is not a number")
        if int(declared) > MAX_BODY:
            raise Refused(413, "too-large", f"request body over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, "too-large", f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """The body read already, then the client's own messages (its disconnect, which a
    streaming response waits for)."""
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def _form_field(headers: dict[str, str], body: bytes | None, name: str) -> str | None:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if body is None or kind != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("utf-8", errors="replace")).get(name)
    return values[0] if values else None


def _wants_json(path: str, headers: dict[str, str]) -> bool:
    accept = str(headers.get("accept", "text/html"))
    return path.startswith("/api/") or "text/html" not in accept


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


async def _refuse(send: Send, no: Refused) -> None:
    body = json.dumps({"error": no.error, "message": no.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if no.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="aof"'))
    await send({"type": "http.response.start", "status": no.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
