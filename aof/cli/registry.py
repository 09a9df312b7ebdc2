"""``aof team|project|host|schedule|agent ...``: registry CRUD, generated from the noun specs.

Flag names follow ao-fleet's (``--slug --name --mission --ownership --business-priority``,
``--root-path``, ``--capacity-slots``, ``--window WEEKDAY,START,END``...) so its users feel at
home; ``get``, ``update`` and ``delete`` take the slug as their argument.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..registry import NOUNS, Noun
from ..registry.spec import Field, boolean
from . import Env, emit, iso_at, json_option, parse_at, pass_env, reason_option

# Option names for list fields (one value per flag, repeatable) and renamed fields.
LIST_FLAGS = {
    "setup": "--setup",
    "credential_files": "--credential-file",
    "labels": "--label",
    "roles": "--role",
    "capabilities": "--capability",
    "projects": "--project",
    "windows": "--window",
}
RENAMED = {"policy": "--policy"}
EXAMPLES = {
    "team": 'aof team create --slug marketing --name Marketing --mission "Grow" '
    "--ownership company --business-priority 80",
    "project": "aof project create --team marketing --slug site --root-path ~/src/site",
    "host": "aof host create --slug mac-1 --name 'Mac mini' --address mac-1.local "
    "--platform macos --capacity-slots 2",
    "schedule": "aof schedule create --team marketing --timezone Europe/Berlin "
    "--policy business_hours --window 0,9,17 --window 4,9:30,13",
    "agent": "aof agent create --slug coder-1 --team marketing --role coder --coder claude",
}


def _flag(f: Field) -> str:
    return LIST_FLAGS.get(f.name) or RENAMED.get(f.name) or "--" + f.name.replace("_", "-")


def _is_int(f: Field) -> bool:
    return bool(getattr(f.check, "is_integer", False))


def _options(noun: Noun, creating: bool) -> list[click.Option]:
    opts = []
    for f in noun.fields:
        if f.name == "override":
            continue  # set with `aof team override`
        help_ = f.help or f.name.replace("_", " ")
        if f.check is boolean:
            flag = f"--{f.name}/--disabled" if f.name == "enabled" else f"--{f.name}/--no-{f.name}"
            shown = f" (default: {f.default})" if creating and f.default is not None else ""
            opts.append(click.Option([flag], default=None, help=help_ + shown))
        elif f.name in LIST_FLAGS:
            opts.append(
                click.Option(
                    [_flag(f), f.name],
                    multiple=True,
                    help=f"{help_} (repeat)"
                    + (" as WEEKDAY,START,END" if f.name == "windows" else ""),
                )
            )
        else:
            opts.append(
                click.Option(
                    [_flag(f), f.name],
                    type=int if _is_int(f) else str,
                    required=creating and f.required,
                    help=help_ + (f" (default: {f.default})" if f.default is not None else ""),
                )
            )
    return opts


def _fields(noun: Noun, params: dict[str, Any]) -> dict[str, Any]:
    from ..registry.schedule import parse_window

    out: dict[str, Any] = {}
    for f in noun.fields:
        if f.name not in params:
            continue
        value = params[f.name]
        if f.name in LIST_FLAGS:
            if not value:
                continue
            value = [parse_window(v) for v in value] if f.name == "windows" else list(value)
        if value is None:
            continue
        out[f.name] = value
    return out


def _row_text(row: dict[str, Any]) -> str:
    keys = [k for k in row if k not in ("schema", "slug", "path")]
    shown = "  ".join(f"{k}={row[k]}" for k in keys[:5] if not isinstance(row[k], dict | list))
    return f"{row['slug']:<20} {shown}"


def make_group(noun: Noun, list_name: str = "list", help: str | None = None) -> click.Group:
    group = click.Group(
        noun.name,
        help=help
        or f"Create, get, list, update and delete {noun.dir} ({noun.dir}/<slug>.md).\n\n"
        f"\b\nExample:\n  {EXAMPLES[noun.name]}\n  aof {noun.name} {list_name} --json",
    )

    @pass_env
    def create(env: Env, /, slug: str | None, as_json: bool, **params: Any) -> None:
        fields = _fields(noun, params)
        if slug is None:
            slug = str(fields.get("team"))  # a schedule defaults to its team's slug
        entry = env.fleet().registry.create(noun.name, slug, fields)
        emit(
            {**entry.meta, "path": env.fleet().registry.rel(entry.path)},
            as_json,
            f"created {noun.name} {entry.slug}: {env.fleet().registry.rel(entry.path)}",
        )

    slug_opt = click.Option(
        ["--slug"],
        required=noun.name != "schedule",
        metavar="SLUG",
        help="Its slug, and file name"
        + (" (default: the team's slug)" if noun.name == "schedule" else ""),
    )
    create_cmd = click.Command(
        "create",
        callback=create,
        params=[slug_opt, *_options(noun, True), _json()],
        help=f"Create a {noun.name}.\n\n\b\nExample:\n  {EXAMPLES[noun.name]}",
    )
    group.add_command(reason_option(create_cmd))

    @pass_env
    def get(env: Env, slug: str, as_json: bool) -> None:
        entry = env.fleet().registry.get(noun.name, slug)
        if as_json:
            emit({**entry.meta, "path": env.fleet().registry.rel(entry.path)}, True)
        else:
            click.echo(entry.card.text, nl=False)

    group.add_command(
        click.Command(
            "get",
            callback=get,
            params=[click.Argument(["slug"]), _json()],
            help=f"Show one {noun.name} (its file, or JSON).\n\n\b\nExample:\n"
            f"  aof {noun.name} get "
            f"{'marketing' if noun.name in ('team', 'schedule') else 'site'}",
        )
    )

    @pass_env
    def list_(env: Env, as_json: bool, team: str | None = None) -> None:
        problems: list[str] = []
        rows = env.fleet().registry.rows(noun.name, problems)
        if team:
            rows = [r for r in rows if r.get("team") == team]
        for msg in problems:
            click.echo(f"warning: {msg}", err=True)
        emit(rows, as_json, "\n".join(_row_text(r) for r in rows) or f"no {noun.dir}")

    list_params: list[click.Parameter] = [_json()]
    if noun.field("team") is not None:
        list_params.append(click.Option(["--team"], metavar="SLUG", help="Only this team's."))
    group.add_command(
        click.Command(
            list_name,
            callback=list_,
            params=list_params,
            help=f"List {noun.dir}.\n\n\b\nExample:\n  aof {noun.name} {list_name} --json",
        )
    )

    @pass_env
    def update(
        env: Env,
        /,
        slug: str,
        new_slug: str | None,
        unset: tuple[str, ...],
        as_json: bool,
        **params: Any,
    ) -> None:
        changes: dict[str, Any] = _fields(noun, params)
        for key in unset:
            if noun.field(key) is None:
                raise click.BadParameter(
                    f"{key!r} is not a {noun.name} field", param_hint="--unset"
                )
            changes[key] = None
        if new_slug:
            changes["slug"] = new_slug
        entry = env.fleet().registry.update(noun.name, slug, changes)
        emit(
            {**entry.meta, "path": env.fleet().registry.rel(entry.path)},
            as_json,
            f"updated {noun.name} {entry.slug}",
        )

    update_cmd = click.Command(
        "update",
        callback=update,
        params=[
            click.Argument(["slug"]),
            click.Option(["--slug", "new_slug"], metavar="NEW", help="Rename it."),
            click.Option(["--unset"], multiple=True, metavar="FIELD", help="Remove a field."),
            *_options(noun, False),
            _json(),
        ],
        help=f"Change fields of a {noun.name}; comments in its file are kept.\n\n\b\nExample:\n"
        f"  aof {noun.name} update SLUG --unset {noun.fields[-1].name}",
    )
    group.add_command(reason_option(update_cmd))

    @pass_env
    def delete(env: Env, slug: str, cascade: bool, as_json: bool) -> None:
        done = env.fleet().registry.delete(noun.name, slug, cascade=cascade)
        emit({"deleted": slug, "changes": done}, as_json, "\n".join(done))

    delete_cmd = click.Command(
        "delete",
        callback=delete,
        params=[
            click.Argument(["slug"]),
            click.Option(
                ["--cascade"],
                is_flag=True,
                help="Also delete what needs it, clear optional references.",
            ),
            _json(),
        ],
        help=f"Delete a {noun.name}; refused while something refers to it (lists the "
        f"referrers) unless --cascade.\n\n\b\nExample:\n"
        f"  aof {noun.name} delete SLUG --cascade",
    )
    group.add_command(reason_option(delete_cmd))
    return group


def _json() -> click.Option:
    return click.Option(["--json", "as_json"], is_flag=True, help="Print JSON.")


team = make_group(NOUNS["team"])
project = make_group(NOUNS["project"])
host = make_group(NOUNS["host"])
schedule = make_group(NOUNS["schedule"])
# `aof agent list` lists running agents (aof.cli.agents); the profiles are `agent profiles`.
agent = make_group(
    NOUNS["agent"],
    list_name="profiles",
    help="Agent profiles (agents/<slug>.md: create, get, profiles, update, delete) and agent "
    "sessions: coder agents started on branches at once (spawn, fanout, multi), steered "
    "(prompt), watched (list, logs, attach) and stopped (kill).\n\n\b\nExample:\n"
    f"  {EXAMPLES['agent']}\n"
    '  aof agent spawn fix-login --prompt "Fix the login redirect" --project site\n'
    "  aof agent list",
)


@project.group("host")
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


@project.command(
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

    from ..errors import RemoteError, ValidationError
    from ..ops.reconcile import ao_root

    row = env.fleet().registry.get("project", slug).meta
    root = ao_root(row)
    if root is None:
        raise ValidationError(
            f"project {slug} is not an AO project (no ao_project_root, and no .ao/ in its "
            "root_path)"
        )
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


@team.group("override")
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


@schedule.command("eval")
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


@project.command("discover")
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


@host.command("sync")
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
    from ..errors import AofError
    from ..registry.hostd import Hostd

    if bool(base_url) == all_hosts:
        raise click.UsageError("give --base-url URL or --all")
    registry = env.fleet().registry
    urls = (
        [base_url]
        if base_url
        else [
            str(h["address"])
            for h in registry.rows("host")
            if str(h.get("address", "")).startswith(("http://", "https://"))
        ]
    )
    results, failed = [], []
    for url in urls:
        try:
            client = Hostd(str(url), auth_token)
            results.append(
                registry.sync_host(
                    client.base_url,
                    client.host(),
                    client.projects(),
                    register_missing=register_missing,
                    team=team,
                    prune=prune,
                )
            )
        except AofError as exc:
            if base_url:
                raise
            failed.append({"address": url, "error": str(exc)})
    if as_json:
        emit({"synced": results, "failed": failed} if all_hosts else results[0], True)
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
