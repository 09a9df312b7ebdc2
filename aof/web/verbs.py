"""The task verbs of the remote API, with JSON bodies: what ``aof task ...`` sends when
``AOF_API_URL`` is set (docs/json.md, "The remote API").

``POST /api/tasks`` creates a task; ``POST /api/tasks/{id}/{verb}`` runs ``claim``,
``heartbeat``, ``progress``, ``block``, ``complete``, ``fail``, ``release`` (an agent's,
with the lease token in the body as ``token``), ``unblock``, ``move`` and ``edit``;
``POST /api/next`` is ``aof task next``. Each answers what the CLI's ``--json`` of that
verb prints, and is audited with the caller's actor. A body may carry ``reason`` (the
audit records' reason) and ``force`` (a person's override of another's lease, with a
reason). A run token reaches only its own task (checked again here, after the reference
is resolved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import AofError, Forbidden, ValidationError
from .context import write

Verb = Callable[[Any, str, dict[str, Any]], Any]


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and required):
        if required:
            raise ValidationError(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name}: {value!r} is not text")
    return value


def _texts(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{name}: {value!r} is not a list of text")
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name}: {value!r} is not a number")
    return float(value)


def _claim(f: Any, ref: str, b: dict[str, Any]) -> Any:
    t = f.claim(ref, _text(b, "agent"), ttl_s=_number(b, "ttl_s"))
    return {**f.task_json(t, body=False), "token": (t.lease or {}).get("token")}


def _heartbeat(f: Any, ref: str, b: dict[str, Any]) -> Any:
    return f.heartbeat(ref, _text(b, "token"))


def _edit(f: Any, ref: str, b: dict[str, Any]) -> Any:
    fields = b.get("set") or {}
    if not isinstance(fields, dict):
        raise ValidationError(f"set: {fields!r} is not a mapping of fields")
    return f.edit_task(
        ref,
        title=_text(b, "title", required=False),
        priority=_text(b, "priority", required=False),
        set_fields=fields,
        unset=_texts(b, "unset"),
        add_labels=_texts(b, "add_labels"),
        remove_labels=_texts(b, "remove_labels"),
        add_deps=_texts(b, "add_deps"),
        remove_deps=_texts(b, "remove_deps"),
        body=_text(b, "body", required=False),
        token=_text(b, "token", required=False),
        expect_rev=_text(b, "expect_rev", required=False),
        sla=_texts(b, "sla"),
    )


def _token(b: dict[str, Any]) -> str | None:
    return _text(b, "token", required=False)


# verb -> (what it does, whether its result is a Task to render as the CLI's task JSON)
VERBS: dict[str, tuple[Verb, bool]] = {
    "claim": (_claim, False),
    "heartbeat": (_heartbeat, False),
    "progress": (lambda f, r, b: f.progress(r, note=_text(b, "note"), token=_token(b)), True),
    "block": (lambda f, r, b: f.block(r, question=_text(b, "question"), token=_token(b)), True),
    "complete": (
        lambda f, r, b: f.complete(
            r, token=_token(b), summary=_text(b, "summary"), outputs=_texts(b, "outputs")
        ),
        True,
    ),
    "fail": (
        lambda f, r, b: f.fail(
            r, error=_text(b, "error"), token=_token(b), permanent=bool(b.get("permanent"))
        ),
        True,
    ),
    "release": (lambda f, r, b: f.release(r, token=_token(b)), True),
    "unblock": (lambda f, r, b: f.unblock(r), True),
    "move": (lambda f, r, b: f.move(r, _text(b, "state")), True),
    "edit": (_edit, True),
}


async def task_verb(request: Request, ref: str, verb: str) -> Response:
    """``POST /api/tasks/{id}/{verb}`` for the verbs of :data:`VERBS`."""
    from .api import error_response

    try:
        body = await json_body(request)
        reason, force = _reason_force(request, body)
        data = await write(request, _call, ref, verb, body, scope_of(request), reason, force)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse(data)


def _call(
    fleet: Any,
    ref: str,
    verb: str,
    body: dict[str, Any],
    scope: dict[str, Any] | None,
    reason: str | None,
    force: bool,
) -> Any:
    if scope is not None:
        found = str(fleet.get_task(ref).id)
        if found != scope.get("task"):
            raise Forbidden(f"this token is for task {scope.get('task')}")
    do, is_task = VERBS[verb]
    with fleet.reason(reason):
        if force:
            with fleet.overriding(str(reason)):
                out = do(fleet, ref, body)
        else:
            out = do(fleet, ref, body)
    return fleet.task_json(out, body=False) if is_task else out


async def create(request: Request) -> Response:
    """``POST /api/tasks``: ``aof task create`` (201 with the new task's JSON)."""
    from .api import error_response

    try:
        body = await json_body(request)
        reason, _ = _reason_force(request, body)
        data = await write(request, _create, body, reason)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse(data, status_code=201)


def _create(fleet: Any, b: dict[str, Any], reason: str | None) -> Any:
    fields = b.get("fields") or {}
    if not isinstance(fields, dict):
        raise ValidationError(f"fields: {fields!r} is not a mapping of fields")
    with fleet.reason(reason):
        t = fleet.create_task(
            _text(b, "title"),
            priority=_text(b, "priority", required=False),
            team=_text(b, "team", required=False),
            project=_text(b, "project", required=False),
            depends_on=_texts(b, "depends_on"),
            labels=_texts(b, "labels"),
            parent=_text(b, "parent", required=False),
            body=_text(b, "body", required=False),
            ready=bool(b.get("ready")),
            fields=fields,
            sla=_texts(b, "sla"),
        )
    return fleet.task_json(t, body=False)


async def next_task(request: Request) -> Response:
    """``POST /api/next {agent, claim}``: ``aof task next``."""
    from .api import error_response

    try:
        body = await json_body(request)
        reason, _ = _reason_force(request, body)
        agent, claim = _text(body, "agent", required=False), bool(body.get("claim"))

        def pick(fleet: Any) -> Any:
            with fleet.reason(reason):
                return fleet.next_task(agent, claim=claim)

        data = await write(request, pick)
    except AofError as exc:
        return error_response(exc)
    return JSONResponse(data)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        raise ValidationError("request body: not JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("request body: not a JSON object")
    return data


def scope_of(request: Request) -> dict[str, Any] | None:
    return getattr(request.state, "scope", None)


def _reason_force(request: Request, body: dict[str, Any]) -> tuple[str | None, bool]:
    from ..fleetapi import check_reason

    reason = check_reason(_text(body, "reason", required=False))
    force = bool(body.get("force"))
    if force and scope_of(request) is not None:
        raise Forbidden("force: a run or worker token acts on its own task only")
    if force and not reason:
        raise ValidationError("force: needs a reason (it is audited)")
    return reason, force
