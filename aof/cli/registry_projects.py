"""``aof project host assign|clear|list``, ``aof project ao`` and ``aof project discover``."""

from __future__ import annotations

import sys

import click

from . import Env, emit, json_option, pass_env, reason_option


@click.group("host")
def project_host() -> None:
    """Place projects on hosts (one host per project).

    \b
    Example:
      aof project host assign site mac-1
    """


@project_host.command("assign")
@click.argument("project_slug", metavar="PROJECT")
@click.argument("host_slug", metavar="HOST")
@reason_option
@json_option
@pass_env
def host_assign(env: Env, project_slug: str, host_slug: str, as_json: bool) -> None:
    """Place PROJECT on HOST.

    \b
    Example:
      aof project host assign site mac-1
    """
    entry = env.fleet().registry.assign_host(project_slug, host_slug)
    emit(
        {"project": entry.slug, "host": entry.meta.get("host")},
        as_json,
        f"project {entry.slug} placed on host {host_slug}",
    )


@project_host.command("clear")
@click.argument("project_slug", metavar="PROJECT")
@reason_option
@json_option
@pass_env
def host_clear(env: Env, project_slug: str, as_json: bool) -> None:
    """Remove PROJECT's placement (it runs on the local machine).

    \b
    Example:
      aof project host clear site
    """
    entry = env.fleet().registry.clear_host(project_slug)
    emit({"project": entry.slug, "host": None}, as_json, f"project {entry.slug}: placement cleared")


@click.command(
    "ao", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("slug")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, required=True)
@pass_env
def project_ao(env: Env, slug: str, args: tuple[str, ...]) -> None:
    """Run an `ao` command in an AO project's root (ao-fleet's project-events,
    project-config-get and project-ao-json): `ao ARGS --project-root ROOT`, its output and
    exit status passed through.

    \b
    Example:
      aof project ao site events --json
      aof project ao site config get daemon.max_agents --json
    """
    import shutil
    import subprocess

    from ..errors import RemoteError
    from ..fleetapi import ao_project_root

    root = ao_project_root(env.fleet(), slug)
    if shutil.which("ao") is None:
        raise RemoteError("ao: not found on PATH (install AO, or add it to PATH)")
    proc = subprocess.run(["ao", *args, "--project-root", root], capture_output=True, text=True)
    click.echo(proc.stdout, nl=False)
    click.echo(proc.stderr, nl=False, err=True)
    sys.exit(proc.returncode)


@project_host.command("list")
@json_option
@pass_env
def host_list(env: Env, as_json: bool) -> None:
    """List placements.

    \b
    Example:
      aof project host list --json
    """
    rows = env.fleet().registry.placements()
    emit(
        rows, as_json, "\n".join(f"{r['project']:<20} {r['host']}" for r in rows) or "no placements"
    )


@click.command("discover")
@click.option(
    "--search-root",
    "search_roots",
    multiple=True,
    metavar="DIR",
    help="Where to look (repeat; default: the current directory).",
)
@click.option("--max-depth", type=click.IntRange(0, 64), default=6, show_default=True)
@click.option("--include-ao-shells", is_flag=True, help="Also .ao folders that are not git repos.")
@click.option("--register", is_flag=True, help="Register the new ones (default: dry run).")
@click.option("--team", metavar="SLUG", help="The team new projects belong to (with --register).")
@reason_option
@json_option
@pass_env
def discover_cmd(
    env: Env,
    search_roots: tuple[str, ...],
    max_depth: int,
    include_ao_shells: bool,
    register: bool,
    team: str | None,
    as_json: bool,
) -> None:
    """Find git repositories (nested ones too) and .ao projects; register the new ones.

    Dry run unless --register. Vendored and build folders are skipped; unreadable folders
    are reported and skipped.

    \b
    Example:
      aof project discover --search-root ~/src --max-depth 3
      aof project discover --search-root ~/src --register --team platform
    """
    from pathlib import Path

    roots = [Path(r) for r in search_roots] or [Path.cwd()]
    result = env.fleet().registry.discover(
        roots,
        max_depth=max_depth,
        include_ao_shells=include_ao_shells,
        register=register,
        team=team,
    )
    for msg in result["problems"]:
        click.echo(f"warning: {msg}", err=True)
    if as_json:
        emit(result, True)
        return
    for item in result["found"]:
        mark = (
            "registered"
            if item["registered"]
            else f"known as {item['existing']}"
            if item["existing"]
            else "new"
        )
        click.echo(f"{item['slug']:<24} {item['kind']:<7} {mark:<18} {item['path']}")
    if result["dry_run"] and result["new"]:
        click.echo(f"\n{len(result['new'])} new; register them with --register --team SLUG")
