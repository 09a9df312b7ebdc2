"""The factory: an ``MCPServer`` over one fleet root, with a tool profile.

Every tool body runs through :meth:`Tools.call`: the caller is resolved (stdio: the local
actor; HTTP: the bearer token's), and the call runs on that caller's :class:`aof.Fleet`
(with the ``reason`` argument of a tool that writes as the reason of every audit record
the call makes). A call that writes holds the server's write lock; a read-only tool or a
resource runs on a fleet object of its own under the read lock, so a slow read never holds
up a write nor waits behind one. An :class:`aof.errors.AofError` becomes an MCP tool error
(``is_error``) whose text is the CLI's one-line message. Anything else is a crash: the SDK
reports it as a generic tool error and logs it on the server.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..errors import AofError
from .callers import Caller, Callers

if TYPE_CHECKING:
    from ..fleet import Fleet

Profile = Literal["agent", "operator", "all"]
PROFILES: tuple[str, ...] = ("agent", "operator", "all")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
# The ``reason`` argument of every tool that writes (aof.Fleet.reason): kept tiny, since
# it is repeated in the schema of each of those tools.
ReasonArg = Annotated[str | None, Field(description="Why (audited)")]

# Set while a tool registered as read-only runs: its calls take the read lock.
_READING: contextvars.ContextVar[bool] = contextvars.ContextVar("aof_mcp_reading", default=False)

INSTRUCTIONS = (
    "aof: a fleet of coding agents run from files in a git repository. Agents: aof_next "
    "finds work, aof_claim takes it (keep the token), aof_progress logs, aof_complete "
    "reports it done, aof_ask blocks it on a question. Reviewers give their verdict with "
    "aof_gate_approve or aof_gate_reject and the token of their review. Every change is "
    "audited and committed under your identity."
)


class Server(MCPServer):
    """The SDK's server, whose ``tools/list`` leaves out the ``title`` pydantic gives every
    schema and property: it repeats the name (``"title": "Task"`` of ``task``) and made up
    a seventh of the agent profile's bytes, which every agent reads on every session."""

    async def list_tools(self) -> list[Any]:
        return [
            t.model_copy(
                update={
                    "input_schema": _untitled(t.input_schema),
                    "output_schema": _untitled(t.output_schema),
                }
            )
            for t in await super().list_tools()
        ]


def _untitled(schema: Any) -> Any:
    """``schema`` without the ``title`` of each (sub)schema; a property named ``title`` stays."""
    if isinstance(schema, list):
        return [_untitled(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    named = ("properties", "$defs")  # maps of names to schemas: a name may be "title"
    return {
        k: {n: _untitled(p) for n, p in v.items()}
        if k in named and isinstance(v, dict)
        else _untitled(v)
        for k, v in schema.items()
        if not (k == "title" and isinstance(v, str))
    }


class Tools:
    """What the tool modules register through: the server, the callers, the call wrapper."""

    def __init__(self, server: MCPServer, callers: Callers) -> None:
        self.server = server
        self.callers = callers

    def tool(
        self, *, read_only: bool = False, idempotent: bool = False, open_world: bool = False
    ) -> Callable[[F], F]:
        """Register a function as a tool; its docstring is the description."""

        def register(fn: F) -> F:
            hints = ToolAnnotations(
                read_only_hint=read_only or None,
                destructive_hint=None if read_only else False,
                idempotent_hint=idempotent or None,
                open_world_hint=open_world,
            )
            description = " ".join((fn.__doc__ or "").split())
            self.server.add_tool(
                _reading(fn) if read_only else fn, description=description, annotations=hints
            )
            return fn

        return register

    def call(
        self, ctx: Context, body: Callable[[Fleet, Caller], T], reason: str | None = None
    ) -> T:
        """``body(fleet, caller)`` for the request's caller, every audit record it makes
        carrying ``reason`` when one is given. A refused operation comes back
        as a ``CallToolResult`` with ``is_error`` (typed as the tool's result: the SDK sends
        a CallToolResult as it is, without checking it against the output schema)."""
        try:
            return self.run(ctx, body, reason)
        except AofError as exc:
            failed = CallToolResult(
                content=[TextContent(type="text", text=str(exc))], is_error=True
            )
            return cast(T, failed)

    def run(
        self,
        ctx: Context | None,
        body: Callable[[Fleet, Caller], T],
        reason: str | None = None,
        *,
        read: bool = False,
    ) -> T:
        """``body(fleet, caller)`` for the request's caller (no context: the local caller,
        as for static resources), with ``reason`` as the reason of every audit record it
        makes (aof.Fleet.reason). ``read`` (or a read-only tool): under the read lock, on a
        reader's fleet object; otherwise under the server's write lock. AofError propagates."""
        reader = read or _READING.get()
        with self.callers.read_lock if reader else self.callers.lock:
            caller = self.callers.caller(_headers(ctx)) if ctx else self.callers.local
            fleet = self.callers.fleet(caller, reader=reader)
            with fleet.reason(reason):
                return body(fleet, caller)

    def rel(self, task: Any) -> str:
        return Path(task.path).relative_to(self.callers.root).as_posix()

    @staticmethod
    def agent_name(caller: Caller) -> str:
        """The lease holder name of a caller: its actor's name."""
        return caller.actor.id


def _reading(fn: F) -> F:
    """``fn`` run with :data:`_READING` set (the SDK sees ``fn``'s own signature)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _READING.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _READING.reset(token)

    return cast(F, wrapper)


def build(root: Path, **kwargs: Any) -> MCPServer:
    """The MCP server for the fleet root ``root`` (see :func:`make` for the arguments)."""
    return make(root, **kwargs)[0]


def make(
    root: Path,
    *,
    profile: str = "agent",
    actor: str,
    env: Mapping[str, str] | None = None,
    tokens: Mapping[str, str] | None = None,
    clock: Any = None,
    ids: Any = None,
) -> tuple[MCPServer, Callers]:
    """The MCP server for the fleet root ``root``, and its callers.

    ``profile``: ``agent`` (the short list an agent needs), ``operator`` (registry, overview,
    plan, reconcile, audit) or ``all``. ``actor`` and ``env`` (``AOF_TASK_ID``,
    ``AOF_LEASE_TOKEN``) identify the local caller (stdio); ``tokens`` maps HTTP bearer
    tokens to actors (then every request must carry one).
    """
    import os
    from importlib.metadata import version

    from . import agent_tools, knowledge_tools, operator_tools, resources

    if profile not in PROFILES:
        from ..errors import ValidationError

        raise ValidationError(f"--tools: {profile!r} is not one of {', '.join(PROFILES)}")
    server = Server(
        name="aof", version=version("aof"), instructions=INSTRUCTIONS, log_level="WARNING"
    )
    callers = Callers(
        Path(root),
        actor=actor,
        env=os.environ if env is None else env,
        tokens=tokens,
        clock=clock,
        ids=ids,
    )
    tools = Tools(server, callers)
    if profile in ("agent", "all"):
        agent_tools.register(tools)
    if profile in ("operator", "all"):
        operator_tools.register(tools)
    knowledge_tools.register(tools)
    resources.register(tools)
    return server, callers


def tool_list(server: MCPServer) -> list[dict[str, Any]]:
    """The server's tools as ``tools/list`` sends them (JSON, camelCase)."""
    import anyio

    async def listing() -> list[Any]:
        return await server.list_tools()

    tools = anyio.run(listing)
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]


def _headers(ctx: Context) -> Mapping[str, str] | None:
    try:
        return ctx.headers
    except (ValueError, AttributeError):
        return None
