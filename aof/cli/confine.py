"""What the CLI lets an agent do: its own task, reads, and hand-off children.

An agent's environment is ``AOF_ACTOR=agent:<name>`` (the runner sets it, with the agent's
``AOF_TASK_ID`` and ``AOF_LEASE_TOKEN``). In it the CLI reports on the agent's own task (a
reviewer's verdict, ``aof gate approve|reject``, on the task it reviews), reads
the fleet and creates tasks; it refuses ``--actor`` of another actor, ``--force``, acting on
another task, an MCP server other than the agent tools over stdio, and every other command
(teams, projects, hosts, schedules, agent profiles, setup commands, aof.yaml, the daemon).
Refusals are :class:`aof.errors.LeaseError` (exit 8).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import click

from ..errors import LeaseError

ANY = frozenset({"*"})
READ_REGISTRY = frozenset({"list", "get", "profiles", "eval", "logs"})
# top-level command -> the subcommands an agent may run (ANY: all of them, or no subcommand)
AGENT_COMMANDS: dict[str, frozenset[str]] = {
    "task": frozenset(
        {"show", "list", "create", "next", "claim", "heartbeat", "progress", "complete"}
        | {"block", "fail", "release", "edit", "approve", "reject"}
    ),
    "gate": frozenset({"approve", "reject"}),  # a reviewer's verdict, with its gate's token
    **{name: READ_REGISTRY for name in ("team", "project", "host", "schedule", "agent")},
    **{name: ANY for name in ("audit", "board", "history", "lint", "plan", "why", "top")},
    "completion": ANY,
    "knowledge": frozenset({"search", "kinds", "document", "fact", "source"}),
    "fleet": frozenset({"overview"}),
    "daemon": frozenset({"status", "health"}),
    "worktree": frozenset({"list"}),
    "mcp": frozenset({"tools", "serve"}),
}
# task subcommands that act on one task: an agent's must be its own (AOF_TASK_ID)
OWN_TASK = frozenset(
    {"claim", "heartbeat", "progress", "complete", "block", "fail", "release", "approve", "reject"}
)
OWN_TASK_EDIT = "edit"


def agent_of(env: Mapping[str, str]) -> str | None:
    """The agent actor of an agent's environment (``AOF_ACTOR=agent:...``), else None."""
    actor = env.get("AOF_ACTOR") or ""
    return actor if actor.startswith("agent:") else None


def check_actor(ctx: click.Context, actor: str | None) -> None:
    """Refuse ``--actor`` naming someone else in an agent's environment."""
    agent = agent_of(os.environ)
    if agent is None or actor is None or actor == agent:
        return
    if ctx.get_parameter_source("actor") == click.core.ParameterSource.COMMANDLINE:
        raise LeaseError(
            f"--actor {actor}: an agent's environment (AOF_ACTOR={agent}) acts as itself only"
        )


def check_command(ctx: click.Context, force: bool, ref_of: object = None) -> None:
    """Refuse the command of ``ctx`` in an agent's environment unless an agent may run it
    (on its own task). ``ref_of(ref)``: the task id a reference names."""
    agent = agent_of(os.environ)
    if agent is None:
        return
    path = [c.info_name or "" for c in _chain(ctx)][1:]
    shown = " ".join(["aof", *path])
    allowed = AGENT_COMMANDS.get(path[0]) if path else ANY
    if allowed is None or (allowed is not ANY and len(path) > 1 and path[1] not in allowed):
        raise LeaseError(f"`{shown}`: not allowed in an agent's environment ({agent})")
    if force:
        raise LeaseError(f"--force: not allowed in an agent's environment ({agent})")
    if path[:2] == ["mcp", "serve"] and (
        ctx.params.get("profile") != "agent" or ctx.params.get("http")
    ):
        raise LeaseError(
            f"`{shown}`: an agent's environment ({agent}) serves the agent tools over stdio only"
        )
    own = os.environ.get("AOF_TASK_ID")
    ref = ctx.params.get("ref")
    acting = path[:1] in (["task"], ["gate"]) and len(path) > 1
    acting = acting and path[1] in OWN_TASK | {OWN_TASK_EDIT}
    if acting and own and ref and callable(ref_of) and ref_of(str(ref)) != ref_of(own):
        raise LeaseError(
            f"`{shown} {ref}`: an agent acts only on its own task ({own}); create a "
            "hand-off task for other work"
        )


def _chain(ctx: click.Context) -> list[click.Context]:
    out: list[click.Context] = []
    current: click.Context | None = ctx
    while current is not None:
        out.insert(0, current)
        current = current.parent
    return out
