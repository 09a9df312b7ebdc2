"""The operator profile: the registry (teams, projects, hosts, schedules, agents), host sync,
the fleet overview, the plan and why, reconcile (preview and apply), the audit trail and a
task's history.

The registry is four tools over a ``kind`` argument rather than twenty: the same verbs
and the same validation as ``aof <kind> list|get|create|update``, at a fifth of the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from .server import ReasonArg
from .shapes import Data, Items, Record, Why

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .callers import Caller
    from .server import Tools

Kind = Annotated[
    Literal["team", "project", "host", "schedule", "agent"], Field(description="Registry kind")
]
Fields = Annotated[
    dict[str, Any], Field(description="Field values as in the card's frontmatter (docs)")
]


def register(t: Tools) -> None:
    """The operator profile's tools, in the order ``tools/list`` shows them."""
    _registry_tools(t)
    _host_tools(t)
    _fleet_tools(t)
    _cost_tools(t)
    _forge_tools(t)


def _registry_tools(t: Tools) -> None:
    """The registry's cards."""

    def record(fleet: Fleet, entry: Any) -> Record:
        return Record(
            kind=entry.noun.name,
            slug=entry.slug,
            path=fleet.registry.rel(entry.path),
            fields=dict(entry.meta),
        )

    @t.tool(read_only=True)
    def aof_registry_list(
        ctx: Context,
        kind: Kind,
        team: Annotated[str | None, Field(description="Only this team's")] = None,
    ) -> Items:
        """Every team, project, host, schedule or agent card, sorted by slug."""

        def run(fleet: Fleet, caller: Caller) -> Items:
            rows = fleet.registry.rows(kind)
            return Items(items=[r for r in rows if team is None or r.get("team") == team])

        return t.call(ctx, run)

    @t.tool(read_only=True)
    def aof_registry_get(ctx: Context, kind: Kind, slug: str) -> Record:
        """One registry card."""
        return t.call(ctx, lambda fleet, caller: record(fleet, fleet.registry.get(kind, slug)))

    @t.tool()
    def aof_registry_create(
        ctx: Context, kind: Kind, slug: str, fields: Fields, reason: ReasonArg = None
    ) -> Record:
        """Create a registry card (validated; unknown references refused)."""

        def run(fleet: Fleet, caller: Caller) -> Record:
            return record(fleet, fleet.registry.create(kind, slug, dict(fields)))

        return t.call(ctx, run, reason)

    @t.tool(idempotent=True)
    def aof_registry_update(
        ctx: Context, kind: Kind, slug: str, fields: Fields, reason: ReasonArg = None
    ) -> Record:
        """Set fields of a registry card (null removes one; "slug" renames)."""

        def run(fleet: Fleet, caller: Caller) -> Record:
            return record(fleet, fleet.registry.update(kind, slug, dict(fields)))

        return t.call(ctx, run, reason)


def _host_tools(t: Tools) -> None:
    """Hosts and their projects, read from their hostd."""

    @t.tool(idempotent=True, open_world=True)
    def aof_host_sync(
        ctx: Context,
        base_url: Annotated[
            str | None, Field(description="The hostd to read; omitted: every host with a URL")
        ] = None,
        auth_token: Annotated[str | None, Field(description="hostd bearer token")] = None,
        register_missing: Annotated[bool, Field(description="Create unknown projects")] = False,
        team: Annotated[str | None, Field(description="Team of created projects")] = None,
        prune: Annotated[bool, Field(description="Unplace projects no longer reported")] = False,
        reason: ReasonArg = None,
    ) -> Data:
        """Read a hostd's profile and projects, or every host's whose address is a URL;
        upsert each host and place its projects, one commit per host. A failing host is
        listed under failed (with base_url: the error)."""
        from ..fleetapi import sync_hosts

        def run(fleet: Fleet, caller: Caller) -> Data:
            data = sync_hosts(
                fleet,
                base_url,
                auth_token=auth_token,
                register_missing=register_missing,
                team=team,
                prune=prune,
            )
            return Data(data=data)

        return t.call(ctx, run, reason)


def _fleet_tools(t: Tools) -> None:
    """The overview, the plan and why, reconcile, the audit trail, a task's history."""

    @t.tool(read_only=True)
    def aof_overview(ctx: Context, team: str | None = None) -> Data:
        """Fleet overview: teams, desired state and why, work by state, hosts, recent audit."""

        def run(fleet: Fleet, caller: Caller) -> Data:
            from ..fleetapi import overview

            return Data(data=overview(fleet, team=team))

        return t.call(ctx, run)

    @t.tool(read_only=True)
    def aof_plan(ctx: Context) -> Data:
        """What the scheduler would do now: dispatches in order, and why the rest wait."""
        return t.call(ctx, lambda fleet, caller: Data(data=fleet.plan()))

    @t.tool(read_only=True)
    def aof_why(ctx: Context, task: str) -> Why:
        """Why a task is (or is not) being dispatched."""
        return t.call(ctx, lambda fleet, caller: Why(task=task, why=fleet.why(task)))

    @t.tool(idempotent=True, open_world=True)
    def aof_reconcile(
        ctx: Context,
        apply: Annotated[bool, Field(description="Carry out the actions")] = False,
        team: str | None = None,
        reason: ReasonArg = None,
    ) -> Data:
        """Each project's desired vs observed state and the fix; apply=true starts, stops,
        pauses or resumes for real (each action audited)."""

        def run(fleet: Fleet, caller: Caller) -> Data:
            from ..fleetapi import reconcile

            return Data(data=reconcile(fleet, team=team, do_apply=apply)[1])

        return t.call(ctx, run, reason)

    @t.tool(read_only=True)
    def aof_audit(
        ctx: Context,
        task: Annotated[str | None, Field(description="Task id or prefix")] = None,
        actor: Annotated[str | None, Field(description="KIND:NAME or NAME")] = None,
        action: str | None = None,
        since: Annotated[str | None, Field(description="ISO time")] = None,
        text: str | None = None,
        limit: Annotated[int, Field(ge=0, description="Most recent N (0: all)")] = 50,
    ) -> Items:
        """Audit records, oldest first, after filtering."""

        def run(fleet: Fleet, caller: Caller) -> Items:
            from ..clock import format_time, parse_time
            from ..errors import ValidationError

            lo = None
            if since:
                try:
                    lo = format_time(parse_time(since))
                except ValueError:
                    raise ValidationError(f"since: {since!r} is not an ISO 8601 time") from None
            recs = fleet.audit.query(
                task=task, actor=actor, action=action, since=lo, text=text, limit=limit
            )
            return Items(items=recs)

        return t.call(ctx, run)

    @t.tool(read_only=True)
    def aof_history(
        ctx: Context, task: Annotated[str, Field(description="Task id or prefix")]
    ) -> Data:
        """A task's audit records (oldest first) and git commits (newest first); a deleted
        task keeps its history."""
        from ..fleetapi import history

        return t.call(ctx, lambda fleet, caller: Data(data=history(fleet, task)))


def _cost_tools(t: Tools) -> None:
    """What runs cost, from the cost ledger."""

    @t.tool(read_only=True)
    def aof_cost(
        ctx: Context,
        month: Annotated[str | None, Field(description="YYYY-MM; default: this month")] = None,
        by: Literal["team", "project", "coder", "agent", "task", "model"] = "team",
    ) -> Data:
        """What the fleet's runs cost in a month (USD and tokens, reported or estimated),
        by team, project, coder, agent, task or model, with the monthly budgets."""
        from ..fleetapi import cost

        return t.call(ctx, lambda fleet, caller: Data(data=cost(fleet, month, by)))


def _forge_tools(t: Tools) -> None:
    """The code forge's pull requests."""

    @t.tool(read_only=True)
    def aof_forge_status(ctx: Context) -> Data:
        """Tasks waiting at a pr gate: their pull request, its checks, approvals and next
        reaction as the daemon last saw them, and the forge's rate-limit budget."""
        from ..forge.status import forge_status

        return t.call(ctx, lambda fleet, caller: Data(data=forge_status(fleet)))
