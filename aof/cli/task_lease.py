"""``aof task claim|heartbeat|release|progress|complete|block|fail``: the verbs of the agent
holding a task (they take its lease token). Each works on a local fleet root or, with
``AOF_API_URL`` and ``AOF_API_TOKEN`` set, on a remote fleet (:meth:`aof.cli.Env.do`)."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, pass_env, reason_option
from .task_options import force_option, out_task, task_arg, token_option


@click.command("claim")
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

    def local(fleet: Any) -> dict[str, Any]:
        t = fleet.claim(ref, agent, ttl_s=ttl)
        return {**fleet.task_json(t, body=False), "token": (t.lease or {}).get("token")}

    data = env.do(local, lambda api: api.claim(ref, agent, ttl_s=ttl))
    lease = data.get("lease") or {}
    emit(
        data,
        as_json,
        f"{data['id']} claimed by {lease.get('holder')}: token {data.get('token')} "
        f"(expires {lease.get('expires')})",
    )


@click.command("heartbeat")
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
    beat = env.do(lambda f: f.heartbeat(ref, token), lambda api: api.heartbeat(ref, token))
    emit(beat, as_json, f"{beat['id']} alive until {beat['expires']}")


@click.command("release")
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
    done = env.do(lambda f: f.release(ref, token=token), lambda api: api.release(ref, token))
    out_task(env, done, as_json, "released")


@click.command("complete")
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
    done = env.do(
        lambda f: f.complete(ref, token=token, summary=summary, outputs=outputs),
        lambda api: api.complete(ref, summary, token, outputs),
    )
    out_task(env, done, as_json, "completed")


@click.command("block")
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
    done = env.do(
        lambda f: f.block(ref, question=question, token=token),
        lambda api: api.block(ref, question, token),
    )
    out_task(env, done, as_json, "blocked")


@click.command("fail")
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
    t = env.do(
        lambda f: f.fail(ref, error=error, token=token, permanent=permanent),
        lambda api: api.fail(ref, error, token, permanent=permanent),
    )
    out_task(env, t, as_json, "failed")


@click.command("progress")
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
    done = env.do(
        lambda f: f.progress(ref, note=note, token=token),
        lambda api: api.progress(ref, note, token),
    )
    out_task(env, done, as_json, "noted")
