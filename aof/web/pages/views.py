"""The pages' handlers: parse the query, read the fleet once (in a worker thread, through
:func:`aof.web.context.read`), render a template. ``?fragment=NAME`` renders only the part
of a page that a live update swaps in."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import AofError, NotFound
from ...fleet import Fleet
from ..api import status_of
from ..context import read
from . import attention as attn
from . import boarddata, costdata, fleetdata, taskdata
from .render import page, query

FRAGMENTS = {"board": "_board.html", "attention": "_attention.html", "task": "_task.html"}


def _template(request: Request, full: str, fragment: str) -> str:
    return FRAGMENTS[fragment] if request.query_params.get("fragment") == fragment else full


def error_page(request: Request, exc: AofError) -> Response:
    status = status_of(exc)
    title = "Not found" if isinstance(exc, NotFound) else "Refused"
    return page(request, "error.html", status_code=status, title=title, message=str(exc))


async def board(request: Request) -> Response:
    f = boarddata.Filters.parse(request.query_params)
    show = request.query_params.get("show") or None
    ctx = await read(request, boarddata.page_data, f, show)
    params = f.query(show=show)
    return page(
        request,
        _template(request, "board.html", "board"),
        f=f,
        priorities=boarddata.PRIORITIES,
        terminal=("done", "cancelled"),
        fragment_query=query({**params, "fragment": "board"}),
        **ctx,
    )


async def attention(request: Request) -> Response:
    data = await read(request, attn.attention)
    template = _template(request, "attention.html", "attention")
    return page(request, template, data=data, titles=attn.TITLES)


def _task(fleet: Fleet, ref: str) -> dict[str, Any]:
    data = taskdata.task_page(fleet, ref)
    return {"data": data, "available": taskdata.available(data["task"], data["frontmatter"])}


async def task(request: Request) -> Response:
    try:
        ctx = await read(request, _task, request.path_params["id"])
    except AofError as exc:
        return error_page(request, exc)
    return page(request, _template(request, "task.html", "task"), **ctx)


async def agents(request: Request) -> Response:
    rows = await read(request, fleetdata.agents)
    return page(request, "agents.html", rows=rows)


async def fleet(request: Request) -> Response:
    data = await read(request, fleetdata.fleet_view)
    return page(request, "fleet.html", data=data)


def month_of(request: Request) -> str | None:
    month = str(request.query_params.get("month") or "")
    ok = len(month) == 7 and month[:4].isdigit() and month[4] == "-" and month[5:].isdigit()
    return month if ok else None


async def cost(request: Request) -> Response:
    month = month_of(request)
    data = await read(request, lambda fl: costdata.cost(fl, month=month))
    return page(request, "cost.html", data=data, month_param=month)


async def audit(request: Request) -> Response:
    filters = fleetdata.audit_filters(request.query_params)
    records = await read(request, fleetdata.audit, filters)
    return page(request, "audit.html", records=records, filters=filters)


async def knowledge(request: Request) -> Response:
    q = str(request.query_params.get("q") or "").strip()[:500] or None
    error = None
    try:
        data = await read(request, fleetdata.knowledge, q)
    except AofError as exc:
        data, error = {"total": 0, "results": []}, str(exc)
    return page(request, "knowledge.html", data=data, q=q, error=error)
