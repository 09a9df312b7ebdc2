"""Rendering the pages: one Jinja2 environment (autoescape on, templates in
``aof/web/templates``), task bodies' Markdown rendered safely, small filters for times and
money, and the page's context every template gets (the actor, the CSRF token, the path)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

ACTIONS = {
    "answer": "Answer",
    "approve": "Approve",
    "reject": "Reject",
    "retry": "Retry",
    "cancel": "Cancel",
    "resurrect": "Resurrect",
    "ready": "Move to ready",
}
NAV = (
    ("/", "Board"),
    ("/attention", "Attention"),
    ("/agents", "Agents"),
    ("/fleet", "Fleet"),
    ("/cost", "Cost"),
    ("/audit", "Audit"),
    ("/knowledge", "Knowledge"),
)


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # commonmark without raw HTML; links are checked by markdown-it's validateLink
    # (javascript:, vbscript:, file: and data: other than images are refused).
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str | None) -> Markup:
    """A task body's Markdown as HTML, raw HTML in it shown as text."""
    return Markup(_markdown().render(text or ""))


def money(value: Any) -> str:
    try:
        v = float(value or 0)
    except (TypeError, ValueError):
        return "-"
    return f"${v:,.2f}" if v >= 0.01 or v == 0 else f"${v:.4f}"


def ago(value: Any, now: datetime | None = None) -> str:
    """``3m``, ``2h``, ``5d`` since an ISO time (its text when it is not one)."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def seconds(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    if v >= 3600:
        return f"{v / 3600:.1f}h"
    if v >= 60:
        return f"{v / 60:.0f}m"
    return f"{v:.0f}s"


def safe_url(value: Any) -> str:
    """``value`` when it is an http(s) URL, else empty (a forge's URL is data, not trusted)."""
    text = str(value or "")
    return text if text.startswith(("https://", "http://")) else ""


def snippet(text: Any) -> Markup:
    """A search snippet: escaped, its ``**match**`` marks shown as <mark>."""
    parts = str(text or "").split("**")
    out = [
        str(escape(p)) if i % 2 == 0 else f"<mark>{escape(p)}</mark>" for i, p in enumerate(parts)
    ]
    return Markup("".join(out))


def query(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aof.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(
        markdown=markdown,
        money=money,
        seconds=seconds,
        query=query,
        safe_url=safe_url,
        snippet=snippet,
    )
    env.globals.update(ACTIONS=ACTIONS, NAV=NAV)
    return env


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` and what every page needs."""
    now = datetime.now(UTC)
    csrf = getattr(request.state, "csrf", None)
    context.update(
        request=request,
        path=request.url.path,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        actor=getattr(request.state, "actor", None),
        csrf=csrf,
        now=now,
        ago=lambda v: ago(v, now),
    )
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)
