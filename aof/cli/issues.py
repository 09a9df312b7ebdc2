"""``aof issues import``: a project's open GitHub issues as tasks (docs/forge.md)."""

from __future__ import annotations

import os

import click

from . import Env, emit, json_option, pass_env, reason_option


@click.group("issues")
def issues_group() -> None:
    """Issues of a project's GitHub repository, as tasks.

    \b
    Example:
      aof issues import --project site --label bug --limit 20
    """


@issues_group.command("import")
@click.option("--project", required=True, metavar="SLUG", help="The project (its repo).")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME",
    help="Only issues with this label (repeat: issues with every one of them).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 5000),
    default=100,
    show_default=True,
    help="At most this many issues, newest first.",
)
@click.option("--ready", is_flag=True, help="New tasks go to ready (default: backlog).")
@reason_option
@json_option
@pass_env
def import_cmd(
    env: Env, project: str, labels: tuple[str, ...], limit: int, ready: bool, as_json: bool
) -> None:
    """Make a task of each open issue of PROJECT's repository (pull requests excluded).

    An issue imported before is never imported twice: its task's title and Objective are
    updated when the issue changed. The token comes from GITHUB_TOKEN, GH_TOKEN or
    `gh auth token`.

    \b
    Example:
      aof issues import --project site
      aof issues import --project site --label bug --label p1 --limit 10 --ready --json
    """
    from ..forge.github import forge_for
    from ..forge.issues import import_issues

    fleet = env.fleet()
    forge = forge_for(fleet.config.data, os.environ)
    rows = import_issues(fleet, forge, project, labels=list(labels), limit=limit, ready=ready)
    text = "\n".join(
        f"{r['action']:<9} {r['task']:<12} #{r['issue']:<6} {r['title']}" for r in rows
    )
    emit(rows, as_json, text or "no open issues")
