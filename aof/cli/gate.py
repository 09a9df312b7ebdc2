"""``aof gate approve|reject``: the verdict at a task's review gate (docs/workflows.md).

A person decides a review or human gate with no token; a reviewer agent passes the token of
its gate's lease (``--token``, default ``$AOF_LEASE_TOKEN``), as the agent verbs of
:mod:`aof.cli.task_lease` do. ``aof task approve|reject`` are the same commands under the
task group (:func:`approve_command`, :func:`reject_command`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from . import Env, emit, json_option, pass_env, reason_option
from .task_options import task_arg, token_option

if TYPE_CHECKING:
    from ..fleet import Fleet


@click.group("gate")
def gate() -> None:
    """Pass or send back a task waiting at a review gate of its workflow.

    Command gates are run by aof itself; their exit status decides.

    \b
    Example:
      aof gate approve t-3kf9 --feedback "LGTM"
      aof gate reject t-3kf9 --feedback "The 429 path has no test"
    """


def where_now(fleet: Fleet, task: Any) -> str:
    """Where a verdict left ``task``, in words: the next gate, done, back to ready with the
    rejection count, or blocked for a person at the cap."""
    from ..model.task import State, rejections

    state = task.state
    gate = task.meta.get("gate") or {}
    if state == State.REVIEW:
        workflow = fleet.workflow_of(task)
        nxt = workflow.gate(gate.get("current")) if workflow else None
        return f"next gate {nxt.describe() if nxt else gate.get('current')}"
    if state == State.DONE:
        return "done: every gate passed"
    count, cap = rejections(task.meta), fleet.max_rejections(task)
    if state == State.READY:
        worker = gate.get("worker")
        return f"back to ready{f' for {worker}' if worker else ''} (rejection {count} of {cap})"
    if state == State.BLOCKED:
        return f"blocked for a person: rejected {count} time(s), max_rejections {cap}"
    return str(state.value)


def render(env: Env, task: Any, as_json: bool, verb: str) -> None:
    """The task JSON, or one line: what happened at which gate, and where the task is now."""
    fleet = env.fleet()
    history = (task.meta.get("gate") or {}).get("history") or [{}]
    decided = history[-1].get("gate", "review")
    now = where_now(fleet, task)
    text = f"{task.id} {verb} at gate {decided}: {now}  {fleet.tasks.rel(task.path)}"
    emit(fleet.task_json(task, body=False), as_json, text)


def render_remote(data: dict[str, Any], as_json: bool, verb: str) -> None:
    """:func:`render` of a remote fleet's answer (the task's JSON)."""
    history = ((data.get("meta") or {}).get("gate") or {}).get("history") or [{}]
    decided = history[-1].get("gate", "review")
    text = f"{data['id']} {verb} at gate {decided}: {data['state']}  {data['path']}"
    emit({k: v for k, v in data.items() if k != "body"}, as_json, text)


def approve_task(
    env: Env, ref: str, feedback: str | None, token: str | None, as_json: bool
) -> None:
    """Pass the current review gate of task ``ref`` (the note goes under ``## Review``)."""
    api = env.remote()
    if api is not None:
        render_remote(api.act(ref, "approve", note=feedback), as_json, "approved")
        return
    render(env, env.fleet().approve(ref, note=feedback, token=token), as_json, "approved")


def reject_task(env: Env, ref: str, feedback: str, token: str | None, as_json: bool) -> None:
    """Send the work of task ``ref`` back with ``feedback`` (under ``## Feedback``)."""
    api = env.remote()
    if api is not None:
        render_remote(api.act(ref, "reject", feedback=feedback), as_json, "rejected")
        return
    render(env, env.fleet().reject(ref, feedback=feedback, token=token), as_json, "rejected")


APPROVE_HELP = """Pass the review gate of a task: on to its next gate, or done.

A reviewer agent passes its gate lease's token (--token, or $AOF_LEASE_TOKEN); a person
needs none. Exit 4 if the task is not at a review gate (a command gate's exit status
decides it), 8 if the token is missing (an agent), stale or foreign.

\b
Example:
  aof {group} approve t-3kf9 {flag} "LGTM"
  AOF_ACTOR=agent:rev-1 AOF_LEASE_TOKEN=5-abcd1234efgh5678 aof gate approve t-3kf9
"""

REJECT_HELP = """Send the work under review back with feedback.

The feedback goes under ## Feedback, and the task back to ready for the same agent at once
(no attempt used up); the rejection that reaches max_rejections blocks it for a person.

A reviewer agent passes its gate lease's token (--token, or $AOF_LEASE_TOKEN); a person
needs none. Exit 4 if the task is not at a review gate, 8 if the token is missing (an
agent), stale or foreign.

\b
Example:
  aof {group} reject t-3kf9 --feedback "Missing tests for the 429 path"
"""


def approve_command(group: str) -> click.Command:
    """``aof <group> approve``: ``gate`` takes ``--feedback``; ``task`` keeps its ``--note``
    and takes ``--feedback`` too."""
    names = ["--feedback"] if group == "gate" else ["--note", "--feedback"]

    @click.command("approve", help=APPROVE_HELP.format(group=group, flag=names[0]))
    @task_arg(envvar=True)
    @click.option(*names, "feedback", metavar="TEXT", help="A note for the task's Review log.")
    @token_option
    @reason_option
    @json_option
    @pass_env
    def approve(env: Env, ref: str, feedback: str | None, token: str | None, as_json: bool) -> None:
        approve_task(env, ref, feedback, token, as_json)

    return approve


def reject_command(group: str) -> click.Command:
    """``aof <group> reject``."""

    @click.command("reject", help=REJECT_HELP.format(group=group))
    @task_arg(envvar=True)
    @click.option(
        "--feedback", required=True, metavar="TEXT", help="What to change (into the body)."
    )
    @token_option
    @reason_option
    @json_option
    @pass_env
    def reject(env: Env, ref: str, feedback: str, token: str | None, as_json: bool) -> None:
        reject_task(env, ref, feedback, token, as_json)

    return reject


gate.add_command(approve_command("gate"))
gate.add_command(reject_command("gate"))
