"""Resources: ``aof://tasks/{id}`` and ``aof://knowledge/{type}/{id}`` (the files as they
are on disk), ``aof://board`` and ``aof://fleet/overview`` (JSON). Read fresh from the files
on every request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError

from ..errors import AofError

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .server import Tools


def register(t: Tools) -> None:
    def read(ctx: Context | None, body: Callable[[Fleet], str]) -> str:
        """``body(fleet)`` as the caller (static resources get no context: they are read as
        the server's local actor; over HTTP the bearer token was checked already)."""
        try:
            return str(t.run(ctx, lambda fleet, caller: body(fleet), read=True))
        except AofError as exc:
            raise ResourceError(str(exc)) from None

    @t.server.resource("aof://tasks/{task_id}", mime_type="text/markdown")
    def task_file(task_id: str, ctx: Context) -> str:
        """A task file: YAML frontmatter and Markdown body."""
        return read(ctx, lambda fleet: fleet.get_task(task_id).path.read_text(encoding="utf-8"))

    @t.server.resource("aof://knowledge/{type}/{key}", mime_type="text/markdown")
    def knowledge_file(type: str, key: str, ctx: Context) -> str:
        """A knowledge source, document or fact file (type: source, document or fact)."""
        return read(
            ctx, lambda fleet: fleet.knowledge.get(type, key).path.read_text(encoding="utf-8")
        )

    @t.server.resource("aof://board", mime_type="application/json")
    def board() -> str:
        """Task counts by state and the open tasks of each state."""
        return read(None, lambda fleet: json.dumps(fleet.board(), default=str))

    @t.server.resource("aof://fleet/overview", mime_type="application/json")
    def fleet_overview() -> str:
        """Teams, desired state and why, work by state, hosts, recent audit records."""

        def body(fleet: Fleet) -> str:
            from ..fleetapi import overview

            return json.dumps(overview(fleet), default=str)

        return read(None, body)
