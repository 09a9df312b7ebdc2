"""``aof task ...``: create, read, edit and move tasks through their lifecycle."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from ..model.task import PRIORITIES, STATES, TERMINAL, State, id_from_filename
from . import Env, emit, json_option, pass_env, reason_option
from .safe_text import safe_text

STATE_NAMES = [s.value for s in STATES]
FC = TypeVar("FC", bound=Callable[..., Any])


def complete_task_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of task ids from file names alone (no YAML is parsed)."""
    from ..fleetapi import find_root

    root_opt = ctx.find_root().params.get("root")
    try:
        root = find_root(root_opt, os.environ.get("AOF_ROOT"), Path.cwd())
    except Exception:
        return []
    out = []
    for state in STATE_NAMES:
        try:
            names = os.listdir(root / "tasks" / state)
        except OSError:
            continue
        for name in names:
            tid = id_from_filename(name)
            if tid and tid.startswith(incomplete):
                out.append(click.shell_completion.CompletionItem(tid, help=f"{state}: {name}"))
    return sorted(out, key=lambda c: c.value)


def task_arg(envvar: bool = False) -> Callable[[FC], FC]:
    """The ID argument (completes from file names; agents may give it as $AOF_TASK_ID)."""
    return click.argument(
        "ref",
        metavar="ID",
        shell_complete=complete_task_ids,
        envvar="AOF_TASK_ID" if envvar else None,
        required=True,
    )


token_option = click.option(
    "--token",
    envvar="AOF_LEASE_TOKEN",
    metavar="T",
    help="Fencing token from the claim ($AOF_LEASE_TOKEN). Agents must pass it.",
)


def force_option(command: FC) -> FC:
    """``--force``: act on a task another actor holds without its lease token, an explicit
    override that needs ``--reason`` (the audit record names the lease it overrode)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        env = click.get_current_context().find_object(Env)
        if kwargs.pop("force", False) and env is not None:
            env.force = True
        return command(*args, **kwargs)

    return cast(
        FC,
        click.option(
            "--force",
            is_flag=True,
            help="Act on a task another actor holds, without its token (needs --reason; "
            "audited as an override).",
        )(run),
    )


def show_line(fleet: Any, task: Any, verb: str) -> str:
    return f"{task.id} {verb}: {task.state.value}  {fleet.tasks.rel(task.path)}"


def out_task(env: Env, task: Any, as_json: bool, verb: str, **extra: Any) -> None:
    fleet = env.fleet()
    data = {**fleet.task_json(task, body=False), **extra}
    emit(data, as_json, show_line(fleet, task, verb))


def parse_set(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; VALUE is read as YAML (:func:`aof.fleetapi.parse_value`)."""
    from ..fleetapi import parse_value

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--set")
        out[key.strip()] = parse_value(value) if value else None
    return out


@click.group()
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
    as_json: bool,
) -> None:
    """Create a task (in backlog/, or ready/ with --ready).

    \b
    Example:
      aof task create "Add rate limiting" --priority high --team platform \\
          --depends-on t-3kf9a2 --label api --ready --json
    """
    if body_file is not None:
        body = body_file.read()
    t = env.fleet().create_task(
        title,
        priority=priority,
        team=team,
        project=project,
        depends_on=depends_on,
        labels=labels,
        parent=parent,
        body=body,
        ready=ready,
        fields={k: v for k, v in (("coder", coder), ("model", model)) if v},
    )
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
    fleet = env.fleet()
    chosen: list[Any] = list(states) or (
        list(STATES) if all_states else [s for s in STATES if s not in TERMINAL]
    )
    problems: list[str] = []
    rows = fleet.list_tasks(
        states=chosen,
        team=team,
        project=project,
        priority=priority,
        labels=labels,
        holder=holder,
        text=text,
        problems=problems,
        invalid=True,
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
    for r in rows:
        click.echo(row_line(r))


def row_line(r: dict[str, Any], state: bool = True) -> str:
    """One listing row for people (``task list``, ``board``)."""
    where = f"{r['state']:<11} " if state else ""
    if r.get("invalid"):
        return safe_text(f"{r['id'] or '-':<10} {where}{'INVALID':<8} {r['reason']}")
    extra = f"  [{r['holder']}]" if r["holder"] else ""
    labels_txt = f"  #{' #'.join(r['labels'])}" if r["labels"] else ""
    return safe_text(f"{r['id']:<10} {where}{r['priority']:<8} {r['title']}{labels_txt}{extra}")


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
    fleet = env.fleet()
    t = fleet.get_task(ref)
    if as_json:
        emit(fleet.task_json(t), True)
    else:
        click.echo(safe_text(f"# {fleet.tasks.rel(t.path)}  ({t.state.value}, rev {t.rev})"))
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
    as_json: bool,
) -> None:
    """Edit fields or the body of a task; comments and formatting in the file are kept.

    Every change is validated before anything is written: a bad value changes nothing (exit 6).

    \b
    Example:
      aof task edit t-3kf9 --priority critical --add-label urgent --set due=2026-12-01T17:00:00Z
      aof task edit t-3kf9 --set budget.usd=5 --set 'routing={role: reviewer}'
    """
    if body_file is not None:
        body = body_file.read()
    fields = parse_set(set_pairs)
    for key, value in (("team", team), ("project", project)):
        if value is not None:
            fields[key] = value
    if project is not None and team is None and "team" not in fields:
        unset = (*unset, "team")  # the project's team follows (aof.service.lifecycle._check_owner)
    t = env.fleet().edit_task(
        ref,
        title=title,
        priority=priority,
        set_fields=fields,
        unset=unset,
        add_labels=add_label,
        remove_labels=remove_label,
        add_deps=add_dep,
        remove_deps=remove_dep,
        body=body,
        token=token,
        expect_rev=expect_rev,
    )
    out_task(env, t, as_json, "edited")


@task.command("ready")
@task_arg()
@reason_option
@json_option
@pass_env
def ready_(env: Env, ref: str, as_json: bool) -> None:
    """Promote a backlog task to ready, so it can be claimed.

    \b
    Example:
      aof task ready t-3kf9
    """
    out_task(env, env.fleet().promote(ref), as_json, "promoted")


@task.command()
@task_arg()
@click.option("--agent", required=True, metavar="NAME", help="Who claims it (the lease holder).")
@click.option(
    "--ttl",
    type=float,
    metavar="S",
    help="Lease length in seconds (default: scheduler.lease_ttl_s).",
)
@reason_option
@json_option
@pass_env
def claim(env: Env, ref: str, agent: str, ttl: float | None, as_json: bool) -> None:
    """Claim a ready task: exactly one claimant wins; prints the lease token.

    Exit 5 if another claimant won, 4 if the task is not ready or waits on a dependency.

    \b
    Example:
      aof task claim t-3kf9 --agent coder-1 --json
    """
    t = env.fleet().claim(ref, agent, ttl_s=ttl)
    lease = t.lease or {}
    fleet = env.fleet()
    data = {**fleet.task_json(t, body=False), "token": lease.get("token")}
    emit(
        data,
        as_json,
        f"{t.id} claimed by {lease.get('holder')}: token {lease.get('token')} "
        f"(expires {lease.get('expires')})",
    )


@task.command()
@task_arg(envvar=True)
@token_option
@json_option
@pass_env
def heartbeat(env: Env, ref: str, token: str | None, as_json: bool) -> None:
    """Tell aof the agent holding the lease is alive (no commit; renews the lease).

    \b
    Example:
      AOF_TASK_ID=t-3kf9 AOF_LEASE_TOKEN=4-abcd1234efgh5678 aof task heartbeat
    """
    if not token:
        raise click.UsageError("heartbeat needs --token (or AOF_LEASE_TOKEN)")
    beat = env.fleet().heartbeat(ref, token)
    emit(beat, as_json, f"{beat['id']} alive until {beat['expires']}")


@task.command()
@task_arg(envvar=True)
@token_option
@force_option
@reason_option
@json_option
@pass_env
def release(env: Env, ref: str, token: str | None, as_json: bool) -> None:
    """Give an in-progress task back to ready.

    \b
    Example:
      aof task release t-3kf9 --token 4-abcd1234efgh5678 --reason "needs a person"
    """
    out_task(env, env.fleet().release(ref, token=token), as_json, "released")


@task.command()
@task_arg(envvar=True)
@token_option
@force_option
@click.option("--summary", required=True, help="What was done (appended to the task body).")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="PATH",
    help="A file, branch or link the work produced (repeat); listed with the summary.",
)
@reason_option
@json_option
@pass_env
def complete(
    env: Env, ref: str, token: str | None, summary: str, outputs: tuple[str, ...], as_json: bool
) -> None:
    """Report an in-progress task done (to review if its workflow has gates).

    \b
    Example:
      aof task complete t-3kf9 --token 4-abcd1234efgh5678 --summary "Added the limiter and tests" \\
          --output src/limiter.py
    """
    done = env.fleet().complete(ref, token=token, summary=summary, outputs=outputs)
    out_task(env, done, as_json, "completed")


@task.command()
@task_arg(envvar=True)
@click.option("--question", required=True, help="What a person must answer.")
@token_option
@force_option
@reason_option
@json_option
@pass_env
def block(env: Env, ref: str, question: str, token: str | None, as_json: bool) -> None:
    """Block an in-progress task on a question for a person.

    \b
    Example:
      aof task block t-3kf9 --question "Keep the v1 endpoint?"
    """
    out_task(env, env.fleet().block(ref, question=question, token=token), as_json, "blocked")


@task.command()
@task_arg()
@click.option("--text", required=True, help="The answer (appended under Questions).")
@reason_option
@json_option
@pass_env
def answer(env: Env, ref: str, text: str, as_json: bool) -> None:
    """Answer a blocked task's question; it goes back to ready.

    \b
    Example:
      aof task answer t-3kf9 --text "Yes, until March"
    """
    out_task(env, env.fleet().answer(ref, text=text), as_json, "answered")


@task.command()
@task_arg()
@reason_option
@json_option
@pass_env
def unblock(env: Env, ref: str, as_json: bool) -> None:
    """Return a blocked task to ready without an answer.

    \b
    Example:
      aof task unblock t-3kf9 --reason "the outage is over"
    """
    out_task(env, env.fleet().unblock(ref), as_json, "unblocked")


@task.command()
@task_arg(envvar=True)
@click.option("--error", required=True, help="What went wrong (kept as last_error).")
@click.option("--permanent", is_flag=True, help="Do not retry: straight to deadletter.")
@token_option
@force_option
@reason_option
@json_option
@pass_env
def fail(env: Env, ref: str, error: str, permanent: bool, token: str | None, as_json: bool) -> None:
    """Record a failed attempt: back to ready, or deadletter when attempts are used up.

    \b
    Example:
      aof task fail t-3kf9 --token 4-abcd1234efgh5678 --error "tests time out"
    """
    t = env.fleet().fail(ref, error=error, token=token, permanent=permanent)
    out_task(env, t, as_json, "failed")


@task.command()
@task_arg()
@click.option(
    "--reason", required=True, metavar="TEXT", help="Why (kept in the body and the audit record)."
)
@force_option
@json_option
@pass_env
def cancel(env: Env, ref: str, reason: str, as_json: bool) -> None:
    """Cancel a task that is not done (one an agent holds: only with --force).

    \b
    Example:
      aof task cancel t-3kf9 --reason "superseded by t-8h2k"
    """
    env.reason = env.reason or reason  # with --force, the override's reason too
    out_task(env, env.fleet().cancel(ref, reason=reason), as_json, "cancelled")


@task.command()
@task_arg()
@reason_option
@json_option
@pass_env
def resurrect(env: Env, ref: str, as_json: bool) -> None:
    """Bring a deadlettered task back to ready (attempts reset, last error kept).

    \b
    Example:
      aof task resurrect t-3kf9 --reason "credentials fixed"
    """
    out_task(env, env.fleet().resurrect(ref), as_json, "resurrected")


@task.command()
@task_arg()
@click.option("--note")
@reason_option
@json_option
@pass_env
def approve(env: Env, ref: str, note: str | None, as_json: bool) -> None:
    """Pass the review gate of a task in review (done after the last gate).

    \b
    Example:
      aof task approve t-3kf9 --note "LGTM"
    """
    out_task(env, env.fleet().approve(ref, note=note), as_json, "approved")


@task.command()
@task_arg()
@click.option("--feedback", required=True, help="What to change; appended to the body.")
@reason_option
@json_option
@pass_env
def reject(env: Env, ref: str, feedback: str, as_json: bool) -> None:
    """Reject a task in review: back to ready with the feedback.

    \b
    Example:
      aof task reject t-3kf9 --feedback "Missing tests for the 429 path"
    """
    out_task(env, env.fleet().reject(ref, feedback=feedback), as_json, "rejected")


@task.command()
@task_arg(envvar=True)
@click.option("--note", required=True, help="One line for the Work Log.")
@token_option
@force_option
@reason_option
@json_option
@pass_env
def progress(env: Env, ref: str, note: str, token: str | None, as_json: bool) -> None:
    """Append a progress note to the task's Work Log.

    \b
    Example:
      aof task progress --note "limiter done, writing tests"   # AOF_TASK_ID, AOF_LEASE_TOKEN set
    """
    out_task(env, env.fleet().progress(ref, note=note, token=token), as_json, "noted")


@task.command()
@task_arg()
@click.argument("state", type=click.Choice([s.value for s in STATES if s != State.IN_PROGRESS]))
@reason_option
@force_option
@json_option
@pass_env
def move(env: Env, ref: str, state: str, as_json: bool) -> None:
    """Move a task to STATE along the lifecycle table (operators; claims use `claim`).

    \b
    Example:
      aof task move t-3kf9 backlog --reason "not this quarter"
    """
    out_task(env, env.fleet().move(ref, state), as_json, "moved")


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
    result = env.fleet().next_task(agent, claim=claim)
    t = result["task"]
    if as_json:
        emit(result, True)
    elif t is None:
        click.echo(result["reason"])
    else:
        token = f"  token {result['token']}" if result.get("token") else ""
        click.echo(f"{t['id']} {t['title']} ({result['reason']}){token}")
