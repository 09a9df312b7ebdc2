"""Fleet-wide commands: init, board, doctor, lint, audit, history."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, iso_at, json_option, pass_env, reason_option
from .safe_text import safe_text
from .task_options import complete_task_ids


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="Fleet name (default: the directory's name).")
@click.option(
    "--example",
    is_flag=True,
    help="Add an example team and a disabled example project (teams/, projects/).",
)
@click.option(
    "--no-hooks",
    is_flag=True,
    help="Do not install the git pre-commit hook that runs `aof lint` on staged fleet files.",
)
@reason_option
@json_option
@pass_env
def init(
    env: Env, directory: str, name: str | None, example: bool, no_hooks: bool, as_json: bool
) -> None:
    """Create a fleet root in DIRECTORY (git-initialised, first commit made).

    Refuses (exit 11) if DIRECTORY already holds a fleet root or any file init would write.
    No default coder is set: name one in aof.yaml (defaults.coder) or with `aof daemon
    --coder` before the daemon dispatches anything. The root gets aof's JSON schemas in
    schemas/ (editors validate aof.yaml and workflows/*.yaml with them) and a git pre-commit
    hook that refuses a commit whose staged fleet files fail `aof lint`.

    \b
    Example:
      aof init ~/fleet --name acme
    """
    from ..fleet import Fleet
    from . import default_actor

    fleet = Fleet.init(
        directory,
        name=name,
        example=example,
        hooks=not no_hooks,
        actor=env.actor or default_actor(),
        commit=env.commit,
        reason=env.reason,
    )
    text = f"initialised fleet {fleet.config.name!r} in {fleet.root}"
    if fleet.hook:
        text += f"\ngit pre-commit hook: {fleet.hook} runs `aof lint` on staged fleet files"
    elif not no_hooks:
        text += (
            "\ngit pre-commit hook: not installed (the repository has one, or core.hooksPath "
            "is set); `aof lint --staged` is what it would run"
        )
    emit({"root": str(fleet.root), "name": fleet.config.name, "hook": fleet.hook}, as_json, text)


@click.command()
@click.option(
    "--by",
    type=click.Choice(["team", "project"]),
    help="Swimlanes: a row of columns per team or project.",
)
@click.option("--watch", is_flag=True, help="Refresh in place on a terminal (Ctrl-C stops).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    metavar="S",
    help="Seconds between refreshes with --watch.",
)
@json_option
@pass_env
def board(env: Env, by: str | None, watch: bool, interval: float, as_json: bool) -> None:
    """Show tasks by state: counts for every state, the open tasks in each column.

    On a terminal the columns stand side by side (a kanban), with --by a row of them per
    team or project; piped, it is plain text. A file that is not a valid task shows in its
    directory's column, marked INVALID.

    \b
    Example:
      aof board
      aof board --by team --watch
    """
    import sys

    from .boardview import board_json, board_table, board_text
    from .task import row_line

    fleet = env.fleet()
    if as_json:
        emit(board_json(fleet.board(), by), True)
        return
    if not sys.stdout.isatty():
        if watch:
            raise click.UsageError("--watch needs a terminal (run it without --watch)")
        click.echo(board_text(fleet.board(), by, row_line))
        return
    import shutil
    import time

    from rich.console import Console  # type: ignore[import-not-found,unused-ignore]

    def render() -> Any:
        return board_table(fleet.board(), by, shutil.get_terminal_size((100, 24)).columns)

    if not watch:
        Console().print(render())
        return
    from rich.live import Live  # type: ignore[import-not-found,unused-ignore]

    try:
        with Live(render(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(render())
    except KeyboardInterrupt:
        pass


@click.command()
@click.option("--fix", is_flag=True, help="Repair what can be repaired (never deletes a task).")
@reason_option
@json_option
@pass_env
def doctor(env: Env, fix: bool, as_json: bool) -> None:
    """Check the fleet root's invariants; with --fix, repair them. Exit 1 if problems remain.

    Finds temp files of interrupted writes, tasks in two state directories, orphaned or
    expired leases, unreadable files and uncommitted changes; and checks the machine: git's
    version, tmux (when runner.tmux is on), the program of every coder in use, the MCP
    server's package, and free disk space (a warning).

    \b
    Example:
      aof doctor && aof doctor --fix --json
    """
    report = env.fleet().doctor(fix=fix)
    if as_json:
        emit(report.to_json(), True)
    else:
        for p in report.problems:
            mark = "fixed" if p.fixed else "warning" if p.warning else "problem"
            click.echo(safe_text(f"{mark}: {p.path}: {p.message}"))
        if not report.problems:
            click.echo("ok: no problems found")
    if not report.ok:
        raise SystemExit(1)


@click.command()
@click.argument("paths", metavar="[PATH]...", nargs=-1, type=click.Path())
@click.option(
    "--staged",
    is_flag=True,
    help="Check the fleet files staged in git (what the pre-commit hook runs).",
)
@json_option
@pass_env
def lint(env: Env, paths: tuple[str, ...], staged: bool, as_json: bool) -> None:
    """Validate every file against schemas/ and each other. Exit 1 on any finding.

    Prints one `file:line: field: message` line per finding, in the words `task list` uses,
    then `warning: ...` lines for keys that look like a typo of a known one (`priorty:`);
    warnings alone exit 0. With PATHs (or --staged), only those of them that are fleet files
    (aof.yaml, tasks, registry, knowledge, workflows) are checked, against the rest of the
    fleet root.

    \b
    Example:
      aof lint
      aof lint tasks/ready/t-3kf9a2-design-the-api.md
    """
    fleet = env.fleet()
    if staged:
        from ..fleetapi import staged_files

        paths = (*paths, *staged_files(fleet))
    warnings: list[str] = []
    findings = fleet.lint(paths if paths or staged else None, warnings)
    if as_json:
        emit({"ok": not findings, "findings": findings, "warnings": warnings}, True)
    else:
        for f in findings:
            click.echo(safe_text(f))
        for w in warnings:
            click.echo(safe_text(f"warning: {w}"))
        if not findings:
            click.echo("ok: every file is valid")
    if findings:
        raise SystemExit(1)


def _render_record(rec: dict[str, Any]) -> str:
    who = rec.get("actor") or {}
    entity = rec.get("entity") or {}
    move = (
        f" {rec['from']} -> {rec['to']}"
        if rec.get("from")
        else (f" -> {rec['to']}" if rec.get("to") else "")
    )
    reason = f"  ({' '.join(str(rec['reason']).split())})" if rec.get("reason") else ""
    return (
        f"{rec.get('ts')}  {who.get('kind')}:{who.get('id')}  {rec.get('action')} "
        f"{entity.get('kind')} {entity.get('id')}{move}{reason}"
    )


def _show_records(
    env: Env,
    task: str | None,
    who: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Filter first, then keep the most recent ``limit``, then print."""
    from ..model.task import check_ref

    recs = env.fleet().audit.query(
        task=check_ref(task) if task else None,
        actor=who,
        action=action,
        since=iso_at(since, "--since"),
        until=iso_at(until, "--until"),
        text=text,
        limit=limit,
    )
    emit(recs, as_json, "\n".join(_render_record(r) for r in recs) or "no records")


def _audit_options(f: Any) -> Any:
    for opt in reversed(
        [
            click.option(
                "--task", metavar="ID", shell_complete=complete_task_ids, help="Only this task."
            ),
            click.option("--actor", "who", metavar="KIND:NAME", help="Only this actor (or NAME)."),
            click.option("--action", help="Only this action (created, claimed, completed, ...)."),
            click.option("--since", metavar="TIME", help="At or after this ISO time."),
            click.option("--until", metavar="TIME", help="At or before this ISO time."),
            click.option(
                "--limit",
                type=click.IntRange(min=0),
                default=50,
                show_default=True,
                help="The most recent N matches (0: all); filters apply first.",
            ),
            json_option,
        ]
    ):
        f = opt(f)
    return f


@click.group()
def audit() -> None:
    """Read the audit trail (audit/YYYY/MM/DD.jsonl).

    \b
    Example:
      aof audit list --task t-3kf9
      aof audit search "rate limit" --json
    """


@audit.command("list")
@_audit_options
@pass_env
def audit_list(
    env: Env,
    task: str | None,
    who: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit records, oldest first, after filtering.

    \b
    Example:
      aof audit list --actor agent:coder-1 --since 2026-11-01T00:00:00Z
    """
    _show_records(env, task, who, action, since, until, None, limit, as_json)


@audit.command("search")
@click.argument("text")
@_audit_options
@pass_env
def audit_search(
    env: Env,
    text: str,
    task: str | None,
    who: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Audit records whose JSON contains TEXT (case-insensitive).

    \b
    Example:
      aof audit search "superseded"
    """
    _show_records(env, task, who, action, since, until, text, limit, as_json)


@click.command()
@click.argument("ref", metavar="ID", shell_complete=complete_task_ids)
@json_option
@pass_env
def history(env: Env, ref: str, as_json: bool) -> None:
    """The audit records and git commits of one task.

    \b
    Example:
      aof history t-3kf9
    """
    from ..fleetapi import history as task_history

    data = task_history(env.fleet(), ref)
    if as_json:
        emit(data, True)
        return
    for r in data["records"]:
        click.echo(safe_text(_render_record(r)))
    if data["commits"]:
        click.echo("\ncommits:")
        for c in data["commits"]:
            line = f"  {c['commit'][:10]} {c['date']}  {c['subject']}  <{c['author']}>"
            click.echo(safe_text(line))
