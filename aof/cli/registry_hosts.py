"""``aof host sync``: bring hosts and their projects in from their hostd."""

from __future__ import annotations

import click

from . import Env, emit, json_option, pass_env, reason_option


@click.command("sync")
@click.option("--base-url", metavar="URL", help="The hostd to read (http:// or https://).")
@click.option("--all", "all_hosts", is_flag=True, help="Every host whose address is a URL.")
@click.option(
    "--auth-token",
    envvar="AOF_HOSTD_TOKEN",
    metavar="T",
    help="Bearer token for hostd ($AOF_HOSTD_TOKEN).",
)
@click.option("--register-missing", is_flag=True, help="Create projects the registry lacks.")
@click.option(
    "--team", metavar="SLUG", help="The team new projects join (with --register-missing)."
)
@click.option("--prune", is_flag=True, help="Unplace projects the host no longer reports.")
@reason_option
@json_option
@pass_env
def host_sync(
    env: Env,
    base_url: str | None,
    all_hosts: bool,
    auth_token: str | None,
    register_missing: bool,
    team: str | None,
    prune: bool,
    as_json: bool,
) -> None:
    """Read a hostd's profile and projects; upsert the host and place its projects.

    ao-fleet's host-import is `--register-missing`, host-sync-all is `--all` (which goes on
    past a host that fails, and reports it). Everything lands in one commit per host.

    \b
    Example:
      aof host sync --base-url http://mac-1.local:7444 --register-missing --team platform
      aof host sync --all --prune
    """
    from ..fleetapi import sync_hosts

    if bool(base_url) == all_hosts:
        raise click.UsageError("give --base-url URL or --all")
    data = sync_hosts(
        env.fleet(),
        base_url,
        auth_token=auth_token,
        register_missing=register_missing,
        team=team,
        prune=prune,
    )
    results, failed = data["synced"], data["failed"]
    if as_json:
        emit(data if all_hosts else results[0], True)
    else:
        for r in results:
            click.echo(
                f"host {r['host']}: {r['projects_reported']} project(s) reported, "
                f"{len(r['created'])} created, {len(r['placed'])} placed"
                + (f", stale: {', '.join(r['stale'])}" if r["stale"] else "")
                + (" (pruned)" if r["pruned"] else "")
            )
        for f in failed:
            click.echo(f"failed: {f['address']}: {f['error']}", err=True)
    if failed:
        raise SystemExit(1)


@click.command("list")
@json_option
@pass_env
def host_list(env: Env, as_json: bool) -> None:
    """List hosts with their workers, slots in use and last heartbeat.

    A host whose `aof worker` sent no heartbeat for hosts.down_after_s (aof.yaml, default
    90) is DOWN; a host no worker ever reported from shows "no worker".

    \b
    Example:
      aof host list --json
    """
    from ..fleetapi import host_rows

    rows = host_rows(env.fleet())
    lines = []
    for r in rows:
        if r["last_heartbeat"] is None:
            seen = "no worker"
        else:
            state = "DOWN" if r["down"] else "up"
            seen = (
                f"{state}, {len(r['workers'])} worker(s), {r['slots_used']}/{r['slots']} "
                f"slots used, last heartbeat {r['last_heartbeat']} ({r['silent_s']:.0f} s ago)"
            )
        lines.append(
            f"{r['slug']}  {r.get('address', '')}  capacity {r.get('capacity_slots', 1)}  {seen}"
        )
    emit(rows, as_json, "\n".join(lines) or "no hosts")


@click.command("token")
@click.argument("slug", metavar="SLUG")
@click.option("--rotate", is_flag=True, help="Replace the host's worker token (the old one stops).")
@json_option
@pass_env
def host_token(env: Env, slug: str, rotate: bool, as_json: bool) -> None:
    """Make the worker token of host SLUG for the remote API; it is printed once.

    The token stands for `system:worker-SLUG`: it sends that host's heartbeat and the logs
    and status of the runs placed on it, nothing else. Only its sha256 is kept (in
    .aof/api-tokens.json): keep it in the worker's environment (AOF_API_TOKEN) or an
    owner-only file. A host has one; --rotate replaces it.

    \b
    Example:
      aof host token mac-1 > ~/.aof-worker-token && chmod 600 ~/.aof-worker-token
      aof host token mac-1 --rotate --json
    """
    from ..fleetapi import mint_worker_token

    secret = mint_worker_token(env.fleet(), slug, rotate=rotate)
    if as_json:
        emit({"host": slug, "actor": f"system:worker-{slug}", "token": secret}, True)
        return
    click.echo(secret)
    click.echo(
        f"worker token of host {slug} (system:worker-{slug}): shown this once; "
        "pass it to `aof worker` in AOF_API_TOKEN or an owner-only --token-file",
        err=True,
    )
