"""The dashboard server's application: its routes, sign-in, live events, ``/metrics`` and
``/mcp``, assembled behind the front gate (:mod:`aof.web.guard`).
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles

from . import api
from .auth import Sessions, set_cookie_header
from .events import PING_S, Hub
from .guard import Guard

STATIC = Path(__file__).with_name("static")


def build_app(
    root: Path,
    *,
    tokens: Mapping[str, str],
    actor: str,
    metrics_token: str | None = None,
    allowed_origins: Iterable[str] = (),
    host: str = "127.0.0.1",
    mcp_profile: str = "all",
    clock: Any = None,
    ids: Any = None,
) -> Guard:
    """The ASGI application of ``aof serve`` for the fleet root ``root``.

    ``tokens`` maps each secret to the actor it signs in as (``human:alice``); ``actor`` is
    the server's own (what a read without a caller uses). The same tokens open ``/mcp``
    (``mcp_profile``: the MCP tools it serves).
    """
    from ..mcp.http import BearerAuth
    from ..mcp.server import make

    mcp_server, callers = make(
        root, profile=mcp_profile, actor=actor, tokens=tokens, clock=clock, ids=ids
    )
    mcp_app = mcp_server.streamable_http_app(host=host)
    from ..fleetapi import token_scope

    sessions = Sessions(
        tokens,
        metrics_token=metrics_token,
        allowed_origins=allowed_origins,
        scoped=lambda secret: token_scope(Path(root), secret),
    )
    hub = Hub(root)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import asyncio

        hub.start(asyncio.get_running_loop())
        try:
            async with mcp_app.router.lifespan_context(mcp_app):
                yield
        finally:
            hub.stop()

    routes: list[BaseRoute] = [
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/mcp", BearerAuth(mcp_app, callers), methods=["GET", "POST", "DELETE"]),
        *api.routes(),
        *_pages(),
    ]
    if STATIC.is_dir():
        from starlette.routing import Mount

        routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.root = Path(root)
    app.state.actor = actor
    app.state.callers = callers
    app.state.sessions = sessions
    app.state.hub = hub
    return Guard(app, sessions)


def _pages() -> list[BaseRoute]:
    from . import pages

    return list(pages.routes())


# -- signing in ---------------------------------------------------------------------------


async def signin(request: Request) -> Response:
    """``GET /signin?token=T`` (the link ``aof serve`` prints) or the sign-in form's POST:
    a session cookie and a redirect to ``next``; without a token, the form."""
    sessions: Sessions = request.app.state.sessions
    fields: Mapping[str, Any] = request.query_params
    if request.method == "POST":
        fields = await request.form()
    token, nxt = str(fields.get("token") or ""), str(fields.get("next") or "/")
    nxt = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"
    if not token:
        return HTMLResponse(_signin_page(nxt, None))
    actor = sessions.actor_for(token)
    if actor is None:
        return HTMLResponse(_signin_page(nxt, "That token is not valid."), status_code=401)
    session = sessions.open(actor)
    response = RedirectResponse(nxt, status_code=303)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.headers["set-cookie"] = set_cookie_header(
        session, secure=secure, max_age_s=sessions.max_age_s
    )
    return response


async def signout(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    sessions.close(getattr(request.state, "session", None))
    response = RedirectResponse("/signin", status_code=303)
    response.headers["set-cookie"] = set_cookie_header(None, secure=False, max_age_s=0)
    return response


def _signin_page(nxt: str, error: str | None) -> str:
    alert = f"<p role=alert class=error>{html.escape(error)}</p>" if error else ""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width'><title>aof: sign in</title>"
        "<link rel=stylesheet href=/static/aof.css><main class=signin><h1>aof</h1>"
        f"{alert}<form method=post action=/signin>"
        f"<input type=hidden name=next value='{html.escape(nxt, quote=True)}'>"
        "<label>Token <input type=password name=token autocomplete=off autofocus></label> "
        "<button type=submit>Sign in</button></form>"
        "<p>The token is printed by <code>aof serve</code> when it starts.</p></main></html>"
    )


# -- live events, metrics ------------------------------------------------------------------


async def events(request: Request) -> Response:
    """Server-sent events: ``task`` and ``audit`` changes as they happen (aof.web.events)."""
    from sse_starlette.sse import EventSourceResponse

    hub: Hub = request.app.state.hub
    return EventSourceResponse(hub.stream(), ping=int(PING_S))


async def metrics(request: Request) -> Response:
    from .metrics import exposition

    body, kind = await exposition(request)
    return Response(body, media_type=kind)
