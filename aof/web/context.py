"""What a request handler uses to reach the fleet: the caller's :class:`aof.Fleet`, in a
worker thread, one writer at a time.

Handlers never keep a Fleet object: :func:`read` and :func:`write` lend one for the length of
one call. The objects come from the same :class:`aof.mcp.callers.Callers` the ``/mcp``
endpoint uses (one per actor, rebuilt when aof.yaml changes), and share its locks, so a page,
an action and an MCP tool call of this server never use one object at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


def _call(request: Request, fn: Callable[..., T], args: tuple[Any, ...], reader: bool) -> T:
    from ..fleetapi import parse_actor
    from ..mcp.callers import Caller

    callers = request.app.state.callers
    actor = getattr(request.state, "actor", None) or request.app.state.actor
    with callers.read_lock if reader else callers.lock:
        fleet = callers.fleet(Caller(parse_actor(actor)), reader=reader)
        return fn(fleet, *args)


async def read(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(fleet, *args)`` with a read-only Fleet of the caller, in a worker thread."""
    return await run_in_threadpool(_call, request, fn, args, True)


async def write(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(fleet, *args)`` with the caller's Fleet (its changes audited as the caller)."""
    return await run_in_threadpool(_call, request, fn, args, False)
