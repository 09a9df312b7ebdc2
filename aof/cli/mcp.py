"""``aof mcp serve`` and ``aof mcp tools``: the MCP server (aof.mcp) from the command line.

The only command module that imports ``mcp``, and only when one of these runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import Env, default_actor, emit, json_option, pass_env

F = TypeVar("F", bound=Callable[..., Any])
TOOLS_HELP = "Which tools: agent (work on tasks), operator (registry, plan, reconcile, audit), all."


def tools_option(default: str, help: str = TOOLS_HELP) -> Callable[[F], F]:
    """``--tools agent|operator|all``: the MCP tool profile a server serves."""
    return click.option(
        "--tools",
        "profile",
        type=click.Choice(["agent", "operator", "all"]),
        default=default,
        show_default=True,
        help=help,
    )


TOOLS_OPTION = tools_option("agent")


def bytes_to_tokens(n: int) -> int:
    """A conservative token estimate for schema JSON: one token per 3 bytes (BPE
    tokenizers average 3.5-4 bytes per token on JSON like this)."""
    return -(-n // 3)


@click.group("mcp")
def mcp_group() -> None:
    """The MCP server: the fleet's tools for agents and operators (docs/mcp.md).

    \b
    Example:
      aof mcp serve                      # stdio, for an agent's MCP config
      aof mcp serve --http 8765 --tools all
    """


def _parse_http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not [HOST:]PORT", param_hint="--http") from None
    if not 0 < number < 65536:
        raise click.BadParameter(f"port {number} is out of range", param_hint="--http")
    return host or "127.0.0.1", number


@mcp_group.command("serve")
@click.option(
    "--http",
    "http",
    metavar="[HOST:]PORT",
    help="Serve streamable HTTP at /mcp instead of stdio (host default 127.0.0.1).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="SECRET[=KIND:NAME]",
    envvar="AOF_MCP_TOKEN",
    help="HTTP: a bearer token, and who its calls are by (default: --actor); repeat for "
    "several. Generated and printed on stderr when none is given. Prefer $AOF_MCP_TOKEN "
    "or --token-file: a value given here shows in `ps`.",
)
@click.option(
    "--token-file",
    "token_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="HTTP: read tokens from PATH, one SECRET[=KIND:NAME] a line (# comments); the "
    "file must be yours and owner-only (chmod 600).",
)
@TOOLS_OPTION
@pass_env
def serve_cmd(
    env: Env, http: str | None, tokens: tuple[str, ...], token_file: Path | None, profile: str
) -> None:
    """Serve the MCP tools over stdio (default) or streamable HTTP.

    Over stdio the caller is --actor / $AOF_ACTOR, and the task and lease token default to
    $AOF_TASK_ID / $AOF_LEASE_TOKEN (set by aof's runner for its agents). Over HTTP every
    request needs `Authorization: Bearer <token>`, and the token says who is calling. An
    operator token (--tools operator or all) can change a project's setup commands, which
    the daemon runs: it is shell access on the daemon's host.

    \b
    Example:
      aof mcp serve --tools agent
      AOF_MCP_TOKEN="$SECRET=agent:coder-1" aof mcp serve --http 127.0.0.1:8765
      aof mcp serve --http 8765 --token-file ~/.config/aof/tokens --tools all
    """
    root = env.fleet().root
    actor = env.actor or default_actor(root)
    from ..mcp.server import make

    if http is None:
        server, _ = make(root, profile=profile, actor=actor)
        server.run()
        return
    from ..mcp.http import new_token, parse_tokens, read_token_file, serve

    host, port = _parse_http(http)
    from_file = read_token_file(token_file) if token_file is not None else []
    table = parse_tokens([*tokens, *from_file], actor)
    generated = None
    if not table:
        generated = new_token()
        table = {generated: actor}
    server, callers = make(root, profile=profile, actor=actor, tokens=table)
    shown = f"; token {generated}" if generated else ""
    where = f"[{host}]" if ":" in host else host
    sys.stderr.write(
        f"aof mcp: serving {profile} tools at http://{where}:{port}/mcp for {root}{shown}\n"
    )
    sys.stderr.flush()
    serve(server, callers, host, port)


@mcp_group.command("tools")
@TOOLS_OPTION
@json_option
@pass_env
def tools_cmd(env: Env, profile: str, as_json: bool) -> None:
    """List a profile's tools with their size in schema bytes and estimated tokens.

    \b
    Example:
      aof mcp tools --tools agent
    """
    from ..mcp.server import make, tool_list

    root = env.fleet().root
    server, _ = make(root, profile=profile, actor=env.actor or default_actor(root))
    tools = tool_list(server)
    rows: list[dict[str, Any]] = []
    for t in tools:
        size = len(json.dumps(t, separators=(",", ":")))
        hints = t.get("annotations") or {}
        rows.append(
            {
                "name": t["name"],
                "read_only": bool(hints.get("readOnlyHint")),
                "bytes": size,
                "tokens": bytes_to_tokens(size),
                "description": t.get("description", ""),
            }
        )
    total = len(json.dumps(tools, separators=(",", ":")))
    data = {
        "profile": profile,
        "tools": rows,
        "bytes": total,
        "tokens": bytes_to_tokens(total),
    }
    lines = [
        f"{r['name']:<22} {'read-only' if r['read_only'] else 'writes':<9} "
        f"{r['bytes']:>6} B  ~{r['tokens']:>5} tok  {r['description']}"
        for r in rows
    ]
    lines.append(
        f"{len(rows)} tools, {total:,} bytes of tools/list JSON, ~{data['tokens']:,} tokens "
        "(estimated at 3 bytes a token)"
    )
    emit(data, as_json, "\n".join(lines))
