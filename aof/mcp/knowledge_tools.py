"""Knowledge tools, in every profile: search company memory, and add to it.

A search hit's full text is the resource ``aof://knowledge/{type}/{id}`` (the file as on
disk), so the tool list stays short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from .server import ReasonArg
from .shapes import Found, KnowledgeRef

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .callers import Caller
    from .server import Tools

Scope = Literal["company", "team", "project"]


def register(t: Tools) -> None:
    @t.tool(read_only=True)
    def aof_knowledge_search(
        ctx: Context,
        text: Annotated[str, Field(description='words, "phrase", prefix*, OR, -not')] = "",
        types: list[Literal["source", "document", "fact"]] = [],  # noqa: B006 (copied)
        scope: Scope | None = None,
        scope_ref: Annotated[str, Field(description="team/project slug")] = "",
        kinds: list[str] = [],  # noqa: B006
        tags: Annotated[list[str], Field(description="all of them, any case")] = [],  # noqa: B006
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
    ) -> Found:
        """Search company knowledge (runbooks, decisions, facts, learnings), best first;
        filters apply before the limit. Full text: aof://knowledge/{type}/{id}."""

        def run(fleet: Fleet, caller: Caller) -> Found:
            k = fleet.knowledge
            found = k.search(
                text=text or None,
                types=types,
                scope=scope,
                scope_ref=scope_ref or None,
                kinds=kinds,
                tags=tags,
                limit=limit,
            )
            return Found(total=found["total"], results=found["results"])

        return t.call(ctx, run)

    @t.tool()
    def aof_knowledge_add(
        ctx: Context,
        type: Literal["document", "fact"],
        kind: Annotated[str, Field(description="e.g. runbook, decision, learning; fact: risk")],
        title: str = "",
        summary: str = "",
        body: Annotated[str, Field(description="Markdown")] = "",
        statement: str = "",
        confidence: Annotated[int | None, Field(ge=0, le=100)] = None,
        scope: Scope = "company",
        scope_ref: str = "",
        tags: list[str] = [],  # noqa: B006 (pydantic copies defaults)
        reason: ReasonArg = None,
    ) -> KnowledgeRef:
        """Add a document (title, summary, body) or a fact (statement, confidence) to company
        knowledge; audited and committed under your name."""

        def run(fleet: Fleet, caller: Caller) -> KnowledgeRef:
            k = fleet.knowledge
            fields: dict[str, Any] = {
                "kind": kind,
                "scope": scope,
                "scope_ref": scope_ref or None,
                "tags": tags or None,
            }
            if type == "document":
                fields.update(title=title or None, summary=summary or None)
                item = k.create_document(fields, body=body)
            else:
                fields.update(statement=statement or None, confidence=confidence)
                item = k.create_fact(fields, body=body)
            return KnowledgeRef(type=type, id=item.key, path=k.rel(item.path))

        return t.call(ctx, run, reason)
