"""``aof task ready|answer|unblock|approve|reject|cancel|resurrect|move``: the moves people
make on a task outside an agent's lease."""

from __future__ import annotations

import click

from ..model.task import STATES, State
from . import Env, json_option, pass_env, reason_option
from .gate import approve_command, reject_command
from .task_options import force_option, out_task, task_arg


@click.command("ready")
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
    t = env.do(lambda f: f.promote(ref), lambda api: api.act(ref, "ready", reason=env.reason))
    out_task(env, t, as_json, "promoted")


@click.command("answer")
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
    t = env.do(lambda f: f.answer(ref, text=text), lambda api: api.act(ref, "answer", text=text))
    out_task(env, t, as_json, "answered")


@click.command("unblock")
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
    t = env.do(lambda f: f.unblock(ref), lambda api: api.unblock(ref))
    out_task(env, t, as_json, "unblocked")


@click.command("cancel")
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
    t = env.do(
        lambda f: f.cancel(ref, reason=reason), lambda api: api.act(ref, "cancel", reason=reason)
    )
    out_task(env, t, as_json, "cancelled")


@click.command("resurrect")
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
    t = env.do(lambda f: f.resurrect(ref), lambda api: api.act(ref, "resurrect"))
    out_task(env, t, as_json, "resurrected")


# The verdicts at a review gate: the very commands of `aof gate` (aof.cli.gate).
approve = approve_command("task")
reject = reject_command("task")


@click.command("move")
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
    t = env.do(lambda f: f.move(ref, state), lambda api: api.move(ref, state))
    out_task(env, t, as_json, "moved")
