"""The registry commands generated from the noun specs: ``aof team|project|host|schedule|agent
create|get|list|update|delete``.

Flag names follow ao-fleet's (``--slug --name --mission --ownership --business-priority``,
``--root-path``, ``--capacity-slots``, ``--window WEEKDAY,START,END``...) so its users feel at
home; ``get``, ``update`` and ``delete`` take the slug as their argument.
"""

from __future__ import annotations

from typing import Any

import click

from ..registry import Noun
from ..registry.spec import Field, boolean
from . import Env, emit, pass_env, reason_option

# Option names for list fields (one value per flag, repeatable) and renamed fields.
LIST_FLAGS = {
    "setup": "--setup",
    "credential_files": "--credential-file",
    "labels": "--label",
    "roles": "--role",
    "capabilities": "--capability",
    "projects": "--project",
    "windows": "--window",
    "import_labels": "--import-label",
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
        if f.name == "budget":
            opts.append(
                click.Option(
                    ["--budget-usd-month", "budget"],
                    type=click.FloatRange(min=0),
                    metavar="USD",
                    help="Its monthly budget in US dollars: over it, no new work is "
                    "dispatched to it until the next month.",
                )
            )
            continue
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
    from ..fleetapi import parse_window

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
        if f.name == "budget":  # --budget-usd-month N
            value = {"usd_month": int(value) if float(value).is_integer() else value}
        out[f.name] = value
    return out


def _row_text(row: dict[str, Any]) -> str:
    keys = [k for k in row if k not in ("schema", "slug", "path")]
    shown = "  ".join(f"{k}={row[k]}" for k in keys[:5] if not isinstance(row[k], dict | list))
    return f"{row['slug']:<20} {shown}"


def make_group(noun: Noun, list_name: str = "list", help: str | None = None) -> click.Group:
    """The group of ``noun``: create, get, ``list_name``, update and delete."""
    group = click.Group(
        noun.name,
        help=help
        or f"Create, get, list, update and delete {noun.dir} ({noun.dir}/<slug>.md).\n\n"
        f"\b\nExample:\n  {EXAMPLES[noun.name]}\n  aof {noun.name} {list_name} --json",
    )
    group.add_command(reason_option(_create_cmd(noun)))
    group.add_command(_get_cmd(noun))
    group.add_command(_list_cmd(noun, list_name))
    group.add_command(reason_option(_update_cmd(noun)))
    group.add_command(reason_option(_delete_cmd(noun)))
    return group


def _create_cmd(noun: Noun) -> click.Command:
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
    return click.Command(
        "create",
        callback=create,
        params=[slug_opt, *_options(noun, True), _json()],
        help=f"Create a {noun.name}.\n\n\b\nExample:\n  {EXAMPLES[noun.name]}",
    )


def _get_cmd(noun: Noun) -> click.Command:
    @pass_env
    def get(env: Env, slug: str, as_json: bool) -> None:
        entry = env.fleet().registry.get(noun.name, slug)
        if as_json:
            emit({**entry.meta, "path": env.fleet().registry.rel(entry.path)}, True)
        else:
            click.echo(entry.card.text, nl=False)

    return click.Command(
        "get",
        callback=get,
        params=[click.Argument(["slug"]), _json()],
        help=f"Show one {noun.name} (its file, or JSON).\n\n\b\nExample:\n"
        f"  aof {noun.name} get "
        f"{'marketing' if noun.name in ('team', 'schedule') else 'site'}",
    )


def _list_cmd(noun: Noun, list_name: str) -> click.Command:
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
    return click.Command(
        list_name,
        callback=list_,
        params=list_params,
        help=f"List {noun.dir}.\n\n\b\nExample:\n  aof {noun.name} {list_name} --json",
    )


def _update_cmd(noun: Noun) -> click.Command:
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

    return click.Command(
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


def _delete_cmd(noun: Noun) -> click.Command:
    @pass_env
    def delete(env: Env, slug: str, cascade: bool, as_json: bool) -> None:
        done = env.fleet().registry.delete(noun.name, slug, cascade=cascade)
        emit({"deleted": slug, "changes": done}, as_json, "\n".join(done))

    return click.Command(
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


def _json() -> click.Option:
    return click.Option(["--json", "as_json"], is_flag=True, help="Print JSON.")
