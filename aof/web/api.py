"""The JSON API of tasks: ``GET /api/tasks``, ``GET /api/tasks/{id}`` and the actions a
person takes, ``POST /api/tasks/{id}/{action}`` (docs/json.md, "The dashboard's API"); the
verbs of the remote API with JSON bodies are in :mod:`aof.web.verbs`, the uploads of remote
runs and hosts in :mod:`aof.web.runs`.

The shapes are the CLI's: a list is ``aof task list --json``'s rows, a task is ``aof task
show --json``. An action is audited and committed with the caller as actor, like the CLI
verb of the same name. With ``expect`` (the state the page showed), an action on a task
that moved meanwhile is refused with 409 and nothing changes. An HTML form post (no
JavaScript) is answered with a redirect to its ``next`` path, or a small error page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import (
    AofError,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unauthorized,
    ValidationError,
)
from ..model.task import STATES
from . import runs, verbs
from .context import read, write

ACTIONS = ("answer", "approve", "reject", "retry", "cancel", "resurrect", "ready")
LIST_LIMIT = 5000
STATUS = {3: 404, 4: 409, 5: 409, 6: 400, 7: 400, 8: 409, 9: 409}


def status_of(exc: AofError) -> int:
    return STATUS.get(exc.exit_code, 500 if exc.exit_code in (10, 12) else 400)


def error_response(exc: AofError) -> JSONResponse:
    kind = type(exc).__name__
    status = status_of(exc)
    if isinstance(exc, Unauthorized):
        status, kind = (403, "forbidden") if isinstance(exc, Forbidden) else (401, "unauthorized")
    return JSONResponse({"error": kind, "message": str(exc)}, status_code=status)


async def list_tasks(request: Request) -> Response:
    q = request.query_params
    states = q.getlist("state") or None
    if q.get("open") in ("1", "true", "yes") and not states:
        states = [s.value for s in STATES if s.value not in ("done", "cancelled")]
    for state in states or ():
        if state not in {s.value for s in STATES}:
            return error_response(ValidationError(f"state: {state!r} is not a task state"))
    try:
        limit = min(int(q.get("limit") or LIST_LIMIT), LIST_LIMIT)
    except ValueError:
        return error_response(ValidationError(f"limit: {q.get('limit')!r} is not a number"))

    def rows(fleet: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = fleet.list_tasks(
            states=states,
            team=q.get("team") or None,
            project=q.get("project") or None,
            priority=q.get("priority") or None,
            labels=q.getlist("label"),
            holder=q.get("holder") or None,
            text=q.get("text") or None,
        )
        return found[:limit]

    try:
        return JSONResponse(await read(request, rows))
    except AofError as exc:
        return error_response(exc)


async def show_task(request: Request) -> Response:
    """``aof task show --json``; with ``?card=1`` also the file's text (``card``) and, in
    review, what it waits for (``why``): what ``aof task show`` prints."""
    ref = request.path_params["task"]
    card = request.query_params.get("card") in ("1", "true", "yes")

    def shown(fleet: Any) -> dict[str, Any]:
        task = fleet.get_task(ref)
        out: dict[str, Any] = fleet.task_json(task)
        if card:
            out["card"] = task.card.text
            out["why"] = fleet.why(task.id) if task.state.value == "review" else None
        return out

    try:
        return JSONResponse(await read(request, shown))
    except AofError as exc:
        return error_response(exc)


async def act(request: Request) -> Response:
    ref, action = request.path_params["task"], request.path_params["action"]
    if action in verbs.VERBS:
        return await verbs.task_verb(request, ref, action)
    form = await _fields(request)
    try:
        if action not in ACTIONS:
            raise NotFound(f"action {action!r}: not one of {', '.join(ACTIONS)}")
        verb = _verb(action, form)
        expect = form.get("expect") or None
        task = await write(request, _guarded, ref, expect, verb)
    except AofError as exc:
        return _answer_error(request, form, exc)
    nxt = form.get("next") or ""
    if nxt.startswith("/") and not nxt.startswith("//") and not _htmx(request):
        return RedirectResponse(nxt, status_code=303)
    return JSONResponse(task)


def _guarded(fleet: Any, ref: str, expect: str | None, verb: Callable[[Any, str], Any]) -> Any:
    task = fleet.get_task(ref)
    if expect is not None and task.state.value != expect:
        raise InvalidTransition(
            f"task {task.id} moved meanwhile: it is now {task.state.value}, not {expect}; "
            "nothing was changed (reload to see it)"
        )
    return fleet.task_json(verb(fleet, str(task.id)))


def _verb(action: str, form: dict[str, str]) -> Callable[[Any, str], Any]:
    def need(name: str) -> str:
        value = (form.get(name) or "").strip()
        if not value:
            raise ValidationError(f"{action}: {name} is required")
        return value

    if action == "answer":
        text = need("text")
        return lambda f, ref: f.answer(ref, text=text)
    if action == "approve":
        note = (form.get("note") or "").strip() or None
        return lambda f, ref: f.approve(ref, note=note)
    if action == "reject":
        feedback = need("feedback")
        return lambda f, ref: f.reject(ref, feedback=feedback)
    if action == "cancel":
        why = need("reason")
        return lambda f, ref: f.cancel(ref, reason=why)
    reason = (form.get("reason") or "").strip() or None
    if action == "resurrect":
        return lambda f, ref: f.resurrect(ref, reason=reason)
    if action == "ready":
        return lambda f, ref: f.move(ref, "ready", reason=reason)
    return _retry(reason)


def _retry(reason: str | None) -> Callable[[Any, str], Any]:
    """Another attempt now: a blocked task back to ready, a dead letter resurrected."""

    def retry(fleet: Any, ref: str) -> Any:
        state = fleet.get_task(ref).state.value
        if state == "blocked":
            return fleet.unblock(ref, reason=reason)
        if state == "deadletter":
            return fleet.resurrect(ref, reason=reason)
        raise InvalidTransition(
            f"task {ref} is {state}: retry takes a blocked task or a dead letter"
        )

    return retry


async def _fields(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    return {}


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _answer_error(request: Request, form: dict[str, str], exc: AofError) -> Response:
    accept = request.headers.get("accept", "")
    if _htmx(request) or "text/html" not in accept:
        return error_response(exc)
    back = form.get("next") or "/"
    back = back if back.startswith("/") and not back.startswith("//") else "/"
    page = (
        "<!doctype html><meta charset=utf-8><title>aof: not done</title>"
        f"<p role=alert>{html.escape(str(exc))}</p>"
        f'<p><a href="{html.escape(back)}">Back</a></p>'
    )
    return HTMLResponse(page, status_code=status_of(exc))


def routes() -> list[Route]:
    return [
        Route("/api/tasks", list_tasks, methods=["GET"]),
        Route("/api/tasks", verbs.create, methods=["POST"]),
        Route("/api/next", verbs.next_task, methods=["POST"]),
        Route("/api/tasks/{task}", show_task, methods=["GET"]),
        Route("/api/tasks/{task}/{action}", act, methods=["POST"]),
        *runs.routes(),
    ]
