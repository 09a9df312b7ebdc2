"""``aof forge status``: open pull requests of the pr gates and the forge's budget."""

from __future__ import annotations

import click

from . import Env, emit, json_option, pass_env


@click.group("forge")
def forge_group() -> None:
    """The code forge (GitHub): the pull requests of the pr gates (docs/forge.md).

    \b
    Example:
      aof forge status
    """


@forge_group.command("status")
@json_option
@pass_env
def status_cmd(env: Env, as_json: bool) -> None:
    """Show each task waiting at a pr gate: its PR, its condition as the daemon last saw it
    (checks, approvals, mergeable), the next reaction, and the rate-limit budget left.

    \b
    Example:
      aof forge status --json
    """
    from ..forge.status import forge_status, status_text

    data = forge_status(env.fleet())
    emit(data, as_json, status_text(data))
