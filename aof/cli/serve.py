"""``aof serve``: the dashboard, its JSON API, live events, ``/metrics`` and ``/mcp``
(aof.web). The only command module that imports the web server, and only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from . import Env, default_actor, pass_env
from .mcp import tools_option


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8780,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: a free one, printed).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="SECRET[=KIND:NAME]",
    envvar="AOF_SERVE_TOKEN",
    help="A sign-in and API token, and who its actions are by (default: --actor or the "
    "person at this machine); repeat for several. Generated and printed when none is given. "
    "Prefer $AOF_SERVE_TOKEN or --token-file: a value given here shows in `ps`.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Read tokens from PATH, one SECRET[=KIND:NAME] a line (# comments); the file must "
    "be yours and owner-only (chmod 600).",
)
@click.option(
    "--metrics-token",
    envvar="AOF_METRICS_TOKEN",
    metavar="SECRET",
    help="A token that opens /metrics only (a scraper's); loopback clients need none.",
)
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="Another origin whose pages may post actions (a reverse proxy's public URL); repeat.",
)
@tools_option("all", "The MCP tools served at /mcp (agent, operator or all).")
@pass_env
def serve_cmd(
    env: Env,
    host: str,
    port: int,
    tokens: tuple[str, ...],
    token_file: Path | None,
    metrics_token: str | None,
    origins: tuple[str, ...],
    profile: str,
) -> None:
    """Serve the dashboard: board, attention, tasks, agents, fleet, cost, audit, knowledge.

    Prints a sign-in link: open it once, and the browser keeps a session cookie. API
    clients send `Authorization: Bearer <token>`. The MCP tools are served at /mcp with the
    same tokens, Prometheus metrics at /metrics (docs/dashboard.md, docs/metrics.md).

    \b
    Example:
      aof serve
      AOF_SERVE_TOKEN="$SECRET=human:alice" aof serve --port 8780
      aof serve --host 0.0.0.0 --allow-origin https://aof.example.com --token-file ~/.aof-tokens
    """
    from ..mcp.http import new_token, parse_tokens, read_token_file
    from ..web.app import build_app
    from ..web.serve import bind, link, run

    root = env.fleet().root
    actor = env.actor or default_actor(root)
    if metrics_token is not None and len(metrics_token) < 16:
        raise click.BadParameter(
            "a token needs at least 16 characters", param_hint="--metrics-token"
        )
    from_file = read_token_file(token_file) if token_file is not None else []
    table = parse_tokens([*tokens, *from_file], actor)
    generated = None
    if not table:
        generated = new_token()
        table = {generated: actor}
    app = build_app(
        root,
        tokens=table,
        actor=actor,
        metrics_token=metrics_token,
        allowed_origins=origins,
        host=host,
        mcp_profile=profile,
    )
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.ClickException(
            f"--port {port}: cannot listen on {host}: {exc.strerror}"
        ) from None
    bound = sock.getsockname()[1]
    shown = generated or None
    announce = (
        f"aof serve: dashboard for {root} at {link(host, bound, None)[: -len('/signin')]}/\n"
        f"aof serve: sign in at {link(host, bound, shown)}"
        + ("" if shown else " (with your token)")
    )
    run(app, sock, announce=announce)
