"""The views' JSON twins under ``/api/``: the same reads as the pages, in the shapes of the
CLI's ``--json`` (docs/json.md, "The dashboard's JSON")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import AofError
from ..api import error_response
from ..context import read
from . import attention as attn
from . import boarddata, costdata, fleetdata
from .views import month_of


async def board(request: Request) -> Response:
    f = boarddata.Filters.parse(request.query_params)
    return JSONResponse(await read(request, boarddata.board, f))


async def attention(request: Request) -> Response:
    return JSONResponse(await read(request, attn.attention))


async def agents(request: Request) -> Response:
    return JSONResponse(await read(request, fleetdata.agents))


async def fleet(request: Request) -> Response:
    return JSONResponse(await read(request, fleetdata.fleet_view))


async def cost(request: Request) -> Response:
    month = month_of(request)
    return JSONResponse(await read(request, lambda fl: costdata.cost(fl, month=month)))


async def audit(request: Request) -> Response:
    filters = fleetdata.audit_filters(request.query_params)
    try:
        limit = max(0, min(int(request.query_params.get("limit") or 50), 10_000))
    except ValueError:
        limit = 50
    return JSONResponse(await read(request, fleetdata.audit, filters, limit))


async def knowledge(request: Request) -> Response:
    q = str(request.query_params.get("q") or "").strip()[:500] or None
    try:
        return JSONResponse(await read(request, fleetdata.knowledge, q))
    except AofError as exc:
        return error_response(exc)
