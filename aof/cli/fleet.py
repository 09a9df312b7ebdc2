"""``aof fleet overview|founder`` and ``aof snapshot export|import``."""

from __future__ import annotations

import json
import sys

import click

from . import Env, emit, json_option, parse_at, pass_env, reason_option


@click.group("fleet")
def fleet_group() -> None:
    """Fleet-wide views: what every team is doing and should be doing.

    \b
    Example:
      aof fleet overview
      aof fleet founder --json
    """


@fleet_group.command("overview")
@click.option("--team", metavar="SLUG", help="Only this team.")
@click.option("--at", metavar="TIME", help="Evaluate schedules at this time (default: now).")
@json_option
@pass_env
def overview_cmd(env: Env, team: str | None, at: str | None, as_json: bool) -> None:
    """Counts, teams with projects and schedules, desired state now and why, work by state,
    hosts with used and free slots, recent audit records.

    \b
    Example:
      aof fleet overview --team marketing --json
    """
    from ..fleetapi import overview

    data = overview(env.fleet(), team=team, at=parse_at(at))
    if as_json:
        emit(data, True)
        return
    c = data["counts"]
    tasks = ", ".join(f"{k} {v}" for k, v in c["tasks"].items() if v) or "none"
    click.echo(
        f"{c['teams']} teams, {c['projects']} projects ({c['projects_enabled']} enabled), "
        f"{c['hosts']} hosts, {c['agents']} agents; tasks: {tasks}"
    )
    for t in data["teams"]:
        w = t["work"]
        click.echo(
            f"\n{t['slug']} (priority {t['business_priority']}): {t['desired']['state']}, "
            f"{t['desired']['reason']}"
        )
        click.echo(
            f"  work: ready {w['ready']}, in progress {w['in-progress']}, "
            f"blocked {w['blocked']}, review {w['review']}, backlog {w['backlog']}"
        )
        if t["projects"]:
            click.echo(
                "  projects: "
                + ", ".join(
                    p["slug"] + ("" if p["enabled"] else " (disabled)") for p in t["projects"]
                )
            )
    for h in data["hosts"]:
        click.echo(
            f"\nhost {h['slug']}: {h['used_slots']}/{h['capacity_slots']} slots used, {h['status']}"
        )


@fleet_group.command("founder")
@click.option("--at", metavar="TIME", help="Evaluate schedules at this time (default: now).")
@json_option
@pass_env
def founder_cmd(env: Env, at: str | None, as_json: bool) -> None:
    """The overview plus placements, overrides, agents and the last 50 audit records.

    \b
    Example:
      aof fleet founder --json | jq '.teams[] | {slug, state: .desired.state}'
    """
    from ..fleetapi import founder

    data = founder(env.fleet(), at=parse_at(at))
    emit(data, as_json, json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group("snapshot")
def snapshot_group() -> None:
    """Export the registry to one JSON file, or import one (all or nothing).

    \b
    Example:
      aof snapshot export --output fleet.json
      aof --root ../new-fleet snapshot import fleet.json
    """


@snapshot_group.command("export")
@click.option("--output", "-o", metavar="FILE", help="Write here (default: stdout).")
@pass_env
def export_cmd(env: Env, output: str | None) -> None:
    """Write every registry file (teams, projects, hosts, schedules, agents) as JSON.

    \b
    Example:
      aof snapshot export --output fleet.json
    """
    from ..fleetapi import export_snapshot

    text = json.dumps(export_snapshot(env.fleet()), indent=2, ensure_ascii=False) + "\n"
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@snapshot_group.command("import")
@click.argument("file", metavar="FILE")
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Apply new or changed setup commands and credential files of projects (shown "
    "first) without asking.",
)
@reason_option
@json_option
@pass_env
def import_cmd(env: Env, file: str, yes: bool, as_json: bool) -> None:
    """Import a snapshot: everything is validated first, then written in one commit.

    A broken snapshot changes nothing. Entries the fleet has and the snapshot lacks are kept.
    A project's setup commands run in a shell on the daemon's host: new or changed ones (and
    credential files) are shown first, and applied only after a yes at the
    prompt or with --yes.

    \b
    Example:
      aof snapshot import fleet.json
      aof snapshot import fleet.json --yes
    """
    from ..fleetapi import import_snapshot, load_snapshot, snapshot_host_changes

    fleet, snap = env.fleet(), load_snapshot(file)
    changes = snapshot_host_changes(fleet, snap, where=file)
    if changes:
        click.echo(
            f"{file} sets what the daemon runs or copies on this host:\n"
            + "\n".join(f"  {c}" for c in changes),
            err=True,
        )
        if not yes and sys.stdin.isatty() and not as_json:
            yes = click.confirm("Apply these?", default=False, err=True)
    written = import_snapshot(fleet, snap, where=file, allow_host_changes=yes)
    emit(
        {"written": written},
        as_json,
        f"imported {len(written)} file(s)"
        if written
        else "nothing to import: the registry already matches",
    )
