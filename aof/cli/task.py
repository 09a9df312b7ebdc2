"""``aof task ...``: create, read, edit and move tasks through their lifecycle, on a local
fleet root or, with ``AOF_API_URL`` and ``AOF_API_TOKEN`` set, on a remote fleet through
:class:`aof.remote.client.RemoteFleet` (same output, same exit codes).

The group and the commands that create and read tasks are here; the verbs of the agent
holding a task are in :mod:`aof.cli.task_lease`, the moves people make in
:mod:`aof.cli.task_moves`, and what they share in :mod:`aof.cli.task_options`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import click

from ..model.task import PRIORITIES, STATES, TERMINAL
from . import Env, LazyGroup, emit, json_option, pass_env, reason_option
from .safe_text import safe_text
from .task_options import (
    STATE_NAMES,
    complete_task_ids,
    force_option,
    out_task,
    parse_set,
    sla_option,
    task_arg,
    token_option,
)


class TaskGroup(LazyGroup):
    """The verbs of the agent holding a task and the moves people make, imported when used."""

    lazy: ClassVar[dict[str, str]] = {
        **{v: f"task_lease:{v}" for v in ("claim", "heartbeat", "release", "progress")},
        **{v: f"task_lease:{v}" for v in ("complete", "block", "fail")},
        "ready": "task_moves:ready_",
        **{v: f"task_moves:{v}" for v in ("answer", "unblock", "approve", "reject", "cancel")},
        **{v: f"task_moves:{v}" for v in ("resurrect", "move")},
    }


@click.group(cls=TaskGroup)
def task() -> None:
    """Create, list, show, edit and move tasks.

    \b
    Example:
      aof task create "Write the release notes" --label docs --ready
      aof task claim t-3kf9a2 --agent coder-1 --json
    """


@task.command()
@click.argument("title")
@click.option("--priority", type=click.Choice(PRIORITIES), help="Default: normal.")
@click.option("--team", metavar="SLUG")
@click.option("--project", metavar="SLUG")
@click.option(
    "--depends-on",
    "depends_on",
    multiple=True,
    metavar="ID",
    shell_complete=complete_task_ids,
    help="A task that must be done first (repeat).",
)
@click.option("--label", "labels", multiple=True, metavar="L", help="A label (repeat).")
@click.option("--parent", metavar="ID", shell_complete=complete_task_ids)
@click.option("--body", help="Markdown body (default: an Objective section with the title).")
@click.option(
    "--body-file",
    type=click.File("r", encoding="utf-8"),
    help="Read the body from a file, - for stdin.",
)
@click.option("--ready", is_flag=True, help="Create it in ready/ instead of backlog/.")
@click.option(
    "--coder", metavar="NAME", help="The coder that runs it (else agent, project, default)."
)
@click.option("--model", metavar="MODEL", help="The model to ask the coder for.")
@click.option(
    "--workflow",
    metavar="NAME",
    help="Its gates: workflows/NAME.yaml (else its project's, team's or defaults.workflow).",
)
@click.option("--role", metavar="ROLE", help="Only an agent with this role takes it (routing).")
@sla_option
@reason_option
@json_option
@pass_env
def create(
    env: Env,
    title: str,
    priority: str | None,
    team: str | None,
    project: str | None,
    depends_on: tuple[str, ...],
    labels: tuple[str, ...],
    parent: str | None,
    body: str | None,
    body_file: Any,
    ready: bool,
    coder: str | None,
    model: str | None,
    workflow: str | None,
    role: str | None,
    sla: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a task (in backlog/, or ready/ with --ready).

    \b
    Example:
      aof task create "Add rate limiting" --priority high --team platform \\
          --depends-on t-3kf9a2 --label api --ready --json
      aof task create "Hotfix the checkout" --ready --sla 4h --sla review=1d
    """
    if body_file is not None:
        body = body_file.read()
    fields = {
        k: v
        for k, v in (
            ("coder", coder),
            ("model", model),
            ("workflow", workflow),
            ("routing", {"role": role} if role else None),
        )
        if v
    }
    given: dict[str, Any] = {
        "priority": priority,
        "team": team,
        "project": project,
        "depends_on": list(depends_on),
        "labels": list(labels),
        "parent": parent,
        "body": body,
        "ready": ready,
        "fields": fields,
        "sla": list(sla),
    }
    t = env.do(lambda f: f.create_task(title, **given), lambda api: api.create_task(title, **given))
    out_task(env, t, as_json, "created")


@task.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATE_NAMES),
    help="Only this state (repeat). Default: every state but done and cancelled.",
)
@click.option("--all", "all_states", is_flag=True, help="Include done and cancelled tasks.")
@click.option("--team", metavar="SLUG")
@click.option("--project", metavar="SLUG")
@click.option("--priority", type=click.Choice(PRIORITIES))
@click.option("--label", "labels", multiple=True, metavar="L", help="Has this label (repeat: all).")
@click.option("--holder", metavar="AGENT", help="Leased by this agent.")
@click.option("--text", metavar="Q", help="Title or body contains Q (case-insensitive).")
@json_option
@pass_env
def list_(
    env: Env,
    states: tuple[str, ...],
    all_states: bool,
    team: str | None,
    project: str | None,
    priority: str | None,
    labels: tuple[str, ...],
    holder: str | None,
    text: str | None,
    as_json: bool,
) -> None:
    """List tasks, most urgent first.

    A file in a state directory that is not a valid task is listed too, marked INVALID with
    the reason (JSON: `invalid: true`, `reason`), unless a filter other than --state is given.

    \b
    Example:
      aof task list --state ready --label api
      aof task list --all --json | jq '.[].id'
    """
    chosen: list[Any] = list(states) or (
        list(STATES) if all_states else [s for s in STATES if s not in TERMINAL]
    )
    problems: list[str] = []
    filters: dict[str, Any] = {
        "team": team,
        "project": project,
        "priority": priority,
        "labels": labels,
        "holder": holder,
        "text": text,
    }
    rows = env.do(
        lambda f: f.list_tasks(states=chosen, problems=problems, invalid=True, **filters),
        lambda api: api.list_tasks(states=[str(getattr(s, "value", s)) for s in chosen], **filters),
    )
    shown = {r["reason"] for r in rows if r.get("invalid")}
    for msg in problems:
        if msg not in shown:  # a broken file a filter left out of the rows: still say so
            click.echo(safe_text(f"warning: {msg}"), err=True)
    if as_json:
        emit(rows, True)
        return
    if not rows:
        click.echo("no tasks")
        return
    # One write, made safe in one pass (safe_text leaves the newlines between rows).
    click.echo(safe_text("\n".join(row_text(r) for r in rows)))


def row_line(r: dict[str, Any], state: bool = True) -> str:
    """One listing row for people (``task list``, ``board``), safe to print."""
    return safe_text(row_text(r, state))


def row_text(r: dict[str, Any], state: bool = True) -> str:
    """One listing row, as its fields say it (:func:`row_line` makes it safe to print)."""
    where = f"{r['state']:<11} " if state else ""
    if r.get("invalid"):
        return f"{r['id'] or '-':<10} {where}{'INVALID':<8} {r['reason']}"
    extra = f"  [{r['holder']}]" if r["holder"] else ""
    gate = r.get("gate")
    if gate:  # most rows have none: nothing more to look at
        if r["state"] == "review" and gate.get("current"):
            extra = f"  @{gate['current']} ({gate.get('kind', 'human')}){extra}"
        last = gate.get("last")
        if last and r["state"] in ("review", "ready", "blocked"):
            extra += f"  last gate: {last.get('gate')} {last.get('outcome')}"
    labels = r["labels"]
    labels_txt = f"  #{' #'.join(labels)}" if labels else ""
    return f"{r['id']:<10} {where}{r['priority']:<8} {r['title']}{labels_txt}{extra}"


@task.command()
@task_arg()
@json_option
@pass_env
def show(env: Env, ref: str, as_json: bool) -> None:
    """Show one task: its file as it is on disk (or JSON with --json).

    \b
    Example:
      aof task show t-3kf9
    """
    api = env.remote()
    if api is not None:
        data = api.get_task(ref, card=not as_json)
        if as_json:
            emit(data, True)
            return
        click.echo(safe_text(f"# {data['path']}  ({data['state']}, rev {data['rev']})"))
        if data.get("why"):
            click.echo(safe_text(f"# {data['why']}"))
        click.echo(safe_text(data["card"]), nl=False)
        return
    fleet = env.fleet()
    t = fleet.get_task(ref)
    if as_json:
        emit(fleet.task_json(t), True)
    else:
        click.echo(safe_text(f"# {fleet.tasks.rel(t.path)}  ({t.state.value}, rev {t.rev})"))
        if t.state.value == "review":
            click.echo(safe_text(f"# {fleet.why(t.id)}"))
        click.echo(safe_text(t.card.text), nl=False)


@task.command()
@task_arg()
@click.option("--title")
@click.option("--priority", type=click.Choice(PRIORITIES))
@click.option("--team", metavar="SLUG", help="Move it to this team (it must exist).")
@click.option(
    "--project", metavar="SLUG", help="Move it to this project (it must exist; its team follows)."
)
@click.option(
    "--set",
    "set_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a frontmatter field (repeat). VALUE is YAML: 5, true, [a, b], {usd: 5}; "
    "quote it to keep text. KEY may be dotted (budget.usd=5). A key that is not a task "
    "field is refused, naming the closest one (priorty: did you mean priority?).",
)
@click.option(
    "--unset", multiple=True, metavar="KEY", help="Remove a frontmatter field (may be dotted)."
)
@click.option("--add-label", multiple=True, metavar="L")
@click.option("--remove-label", multiple=True, metavar="L")
@click.option("--add-dep", multiple=True, metavar="ID", shell_complete=complete_task_ids)
@click.option("--remove-dep", multiple=True, metavar="ID", shell_complete=complete_task_ids)
@click.option("--body", help="Replace the Markdown body.")
@click.option(
    "--body-file",
    type=click.File("r", encoding="utf-8"),
    help="Replace the body from a file, - for stdin.",
)
@click.option(
    "--expect-rev",
    metavar="REV",
    help="Refuse if the task changed since this rev (from show --json).",
)
@token_option
@sla_option
@force_option
@reason_option
@json_option
@pass_env
def edit(
    env: Env,
    ref: str,
    title: str | None,
    priority: str | None,
    team: str | None,
    project: str | None,
    set_pairs: tuple[str, ...],
    unset: tuple[str, ...],
    add_label: tuple[str, ...],
    remove_label: tuple[str, ...],
    add_dep: tuple[str, ...],
    remove_dep: tuple[str, ...],
    body: str | None,
    body_file: Any,
    expect_rev: str | None,
    token: str | None,
    sla: tuple[str, ...],
    as_json: bool,
) -> None:
    """Edit fields or the body of a task; comments and formatting in the file are kept.

    Every change is validated before anything is written: a bad value changes nothing (exit 6).

    \b
    Example:
      aof task edit t-3kf9 --priority critical --add-label urgent --set due=2026-12-01T17:00:00Z
      aof task edit t-3kf9 --set budget.usd=5 --set 'routing={role: reviewer}'
      aof task edit t-3kf9 --sla review=1d --sla ready=2h
    """
    if body_file is not None:
        body = body_file.read()
    fields = parse_set(set_pairs)
    for key, value in (("team", team), ("project", project)):
        if value is not None:
            fields[key] = value
    if project is not None and team is None and "team" not in fields:
        unset = (*unset, "team")  # the project's team follows (aof.service.lifecycle._check_owner)
    changes: dict[str, Any] = {
        "title": title,
        "priority": priority,
        "unset": list(unset),
        "add_labels": list(add_label),
        "remove_labels": list(remove_label),
        "add_deps": list(add_dep),
        "remove_deps": list(remove_dep),
        "body": body,
        "token": token,
        "expect_rev": expect_rev,
        "sla": list(sla),
    }
    t = env.do(
        lambda f: f.edit_task(ref, set_fields=fields, **changes),
        lambda api: api.edit_task(ref, set=fields, **changes),
    )
    out_task(env, t, as_json, "edited")


@task.command("next")
@click.option("--agent", metavar="NAME", help="Who asks (default: any agent's next task).")
@click.option("--claim", is_flag=True, help="Claim it at once (prints the lease token).")
@reason_option
@json_option
@pass_env
def next_(env: Env, agent: str | None, claim: bool, as_json: bool) -> None:
    """The task the scheduler's plan would hand this agent next; --claim claims it atomically.

    Prints nothing to do (and `task: null` in JSON) when the plan dispatches nothing.

    \b
    Example:
      aof task next --agent coder-1 --claim --json
    """
    result = env.do(
        lambda f: f.next_task(agent, claim=claim), lambda api: api.next_task(agent, claim=claim)
    )
    t = result["task"]
    if as_json:
        emit(result, True)
    elif t is None:
        click.echo(result["reason"])
    else:
        token = f"  token {result['token']}" if result.get("token") else ""
        click.echo(f"{t['id']} {t['title']} ({result['reason']}){token}")
