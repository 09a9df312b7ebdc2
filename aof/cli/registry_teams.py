"""``aof team override set|clear|list`` and ``aof schedule eval``."""

from __future__ import annotations

import click

from . import Env, emit, iso_at, json_option, parse_at, pass_env, reason_option


@click.group("override")
def team_override() -> None:
    """Force a team's state, or freeze it until a time, with a note.

    \b
    Example:
      aof team override set marketing --state paused --until 2026-12-01T08:00:00Z \\
          --note "launch freeze"
    """


@team_override.command("set")
@click.argument("team_slug", metavar="TEAM")
@click.option(
    "--state",
    type=click.Choice(["running", "paused", "stopped"]),
    help="Force this state (until --until, if given).",
)
@click.option("--freeze-until", metavar="TIME", help="Pause the team until TIME (ISO 8601).")
@click.option("--until", metavar="TIME", help="With --state: when the override ends.")
@click.option("--note", help="Why (shown in schedule eval and the audit trail).")
@reason_option
@json_option
@pass_env
def override_set(
    env: Env,
    team_slug: str,
    state: str | None,
    freeze_until: str | None,
    until: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Set TEAM's override: --state S [--until T], or --freeze-until T.

    \b
    Example:
      aof team override set marketing --freeze-until 2026-12-01T08:00:00Z --note "code freeze"
    """
    if bool(state) == bool(freeze_until):
        raise click.UsageError("give exactly one of --state or --freeze-until")
    entry = env.fleet().registry.set_override(
        team_slug,
        state=state,
        until=iso_at(freeze_until or until),
        note=note,
        freeze=bool(freeze_until),
    )
    emit(
        {"team": entry.slug, **entry.meta["override"]},
        as_json,
        f"team {entry.slug}: override set ({entry.meta['override']['mode']})",
    )


@team_override.command("clear")
@click.argument("team_slug", metavar="TEAM")
@reason_option
@json_option
@pass_env
def override_clear(env: Env, team_slug: str, as_json: bool) -> None:
    """Remove TEAM's override.

    \b
    Example:
      aof team override clear marketing
    """
    entry = env.fleet().registry.clear_override(team_slug)
    emit({"team": entry.slug, "override": None}, as_json, f"team {entry.slug}: override cleared")


@team_override.command("list")
@json_option
@pass_env
def override_list(env: Env, as_json: bool) -> None:
    """List team overrides (expired ones included; `schedule eval` says which apply).

    \b
    Example:
      aof team override list
    """
    rows = env.fleet().registry.overrides()
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['team']:<20} {r['mode']} {r.get('state', '')} until {r.get('until', '-')}"
            for r in rows
        )
        or "no overrides",
    )


@click.command("eval")
@click.option("--team", "team_slug", metavar="SLUG", help="Only this team (default: every team).")
@click.option("--at", metavar="TIME", help="Evaluate at this ISO 8601 time (default: now).")
@json_option
@pass_env
def schedule_eval(env: Env, team_slug: str | None, at: str | None, as_json: bool) -> None:
    """The desired state (running, paused or stopped) of teams at a time, and why.

    With --team the JSON is one object, otherwise a list of them.

    \b
    Example:
      aof schedule eval --team marketing --at 2026-11-23T10:00:00Z --json
    """
    fleet = env.fleet()

    when = parse_at(at) if at else fleet.clock.now()
    states = fleet.desired_states(when, [team_slug] if team_slug else None)
    rows = [
        {"team": slug, "at": iso_at(at) if at else None, **d.to_json()}
        for slug, d in sorted(states.items())
    ]
    if team_slug:
        emit(rows[0], as_json, f"{team_slug}: {rows[0]['state']} ({rows[0]['reason']})")
    else:
        emit(
            rows,
            as_json,
            "\n".join(f"{r['team']:<20} {r['state']:<8} {r['reason']}" for r in rows) or "no teams",
        )
