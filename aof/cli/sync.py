"""``aof sync``: a person's clone of a shared fleet root brought level with its remote."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, pass_env, reason_option
from .safe_text import safe_text


@click.command("sync")
@click.option("--no-push", is_flag=True, help="Fetch, merge and lint, but do not push.")
@reason_option
@json_option
@pass_env
def sync_cmd(env: Env, no_push: bool, as_json: bool) -> None:
    """Commit your finished hand edits, pull (fetch and merge `git.remote`), lint, push.

    A conflict keeps the remote's (the coordinator's) version; yours is kept under
    `.aof/conflicts/<time>/<path>`, named by a `sync_conflict` audit record, and the command
    exits 16. Lint findings (`file:line: field: message`) stop it before the push (exit 1);
    an unreachable remote, or an uncommitted change where the merge must write, exits 10.

    \b
    Example:
      aof sync
      aof sync --no-push --json
    """
    from ..errors import GitError, SyncConflict
    from ..fleetapi import sync

    result = sync(env.fleet(), person=True, push=not no_push)
    if as_json:
        emit(result.to_json(), True)
    else:
        _render(result)
    if result.error or result.waiting:
        if as_json:
            raise SystemExit(GitError.exit_code)
        raise GitError(result.error or result.waiting)
    if result.lint:
        raise SystemExit(1)
    if result.conflicts:
        if as_json:
            raise SystemExit(SyncConflict.exit_code)
        raise SyncConflict(
            f"{len(result.conflicts)} conflicting version(s) kept aside under .aof/conflicts/ "
            "(aof audit list --action sync_conflict names them)"
        )


def _render(result: Any) -> None:
    for rel in result.committed:
        click.echo(safe_text(f"committed: {rel}"))
    for why in result.left.values():
        click.echo(safe_text(f"not committed: {why}"))
    if result.merged:
        how = "fast-forward" if result.fast_forward else "merge"
        click.echo(f"merged {result.remote} {result.branch} ({how} to {result.merged[:10]})")
    elif result.fetched is not None or not result.error:
        click.echo(f"up to date with {result.remote} {result.branch}")
    for rec in result.conflicts:
        click.echo(safe_text(f"conflict: {rec.get('reason')}"))
    for finding in result.lint:
        click.echo(safe_text(finding))
    if result.lint:
        click.echo("not pushed: fix the findings above, then aof sync again")
    elif result.pushed:
        click.echo(f"pushed to {result.remote} {result.branch}")
