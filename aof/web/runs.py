"""What remote runs and worker hosts report through the remote API (docs/json.md, "The
remote API"):

- ``POST /api/runs/{run}/log?name=events.jsonl&offset=N``: raw bytes of one of the run's
  log files, starting at byte N; answers ``{"run", "name", "size"}`` (the file's new size:
  bytes it had already are skipped, so a retry is harmless);
- ``POST /api/runs/{run}/status {state, pid, exit_code, outcome, meter, ...}``: the run's
  status, kept in ``.aof/run-reports/<run>.json``;
- ``POST /api/hosts/{host}/heartbeat {workers, slots, slots_used, version}``: kept in
  ``.aof/host-beats/<host>.json``.

A run token uploads for its own run, a worker token for the runs placed on its host.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import AofError, Forbidden, ValidationError
from .context import write
from .verbs import json_body, scope_of


async def run_log(request: Request) -> Response:
    from .api import error_response

    run = request.path_params["run"]
    q = request.query_params
    try:
        name = q.get("name") or ""
        try:
            offset = int(q.get("offset") or "0")
        except ValueError:
            raise ValidationError(f"offset: {q.get('offset')!r} is not a number") from None
        data = await request.body()

        def append(fleet: Any) -> int:
            from ..fleetapi import run_log as append_log

            _check_run(fleet, scope_of(request), run)
            return append_log(fleet, run, name, data, offset)

        size = await write(request, append)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse({"run": run, "name": name, "size": size})


async def run_status(request: Request) -> Response:
    from .api import error_response

    run = request.path_params["run"]
    try:
        fields = await json_body(request)
        scope = scope_of(request)

        def keep(fleet: Any) -> dict[str, Any]:
            from ..fleetapi import run_status as keep_status

            _check_run(fleet, scope, run)
            return keep_status(fleet, run, fields, host=(scope or {}).get("host"))

        report = await write(request, keep)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse(report)


async def host_heartbeat(request: Request) -> Response:
    from .api import error_response

    slug = request.path_params["host"]
    try:
        fields = await json_body(request)

        def keep(fleet: Any) -> dict[str, Any]:
            from ..fleetapi import host_heartbeat as keep_beat

            return keep_beat(fleet, slug, fields)

        beat = await write(request, keep)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse(beat)


def _check_run(fleet: Any, scope: dict[str, Any] | None, run: str) -> None:
    """A run token uploads for its own run (the front gate checked that), a worker token
    for a run placed on its host."""
    if scope is None or scope.get("kind") != "worker":
        return
    from ..fleetapi import run_on_host

    host = str(scope.get("host"))
    if not run_on_host(fleet, run, host):
        raise Forbidden(f"this token is for host {host}: run {run} is not placed there")


def routes() -> list[Route]:
    return [
        Route("/api/runs/{run}/log", run_log, methods=["POST"]),
        Route("/api/runs/{run}/status", run_status, methods=["POST"]),
        Route("/api/hosts/{host}/heartbeat", host_heartbeat, methods=["POST"]),
    ]
