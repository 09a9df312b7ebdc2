"""What the ``aof task`` commands share: the task ID argument and its completion, the lease
token and ``--force`` options, ``--set KEY=VALUE`` parsing, and the one-line rendering of a
task a command acted on."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..model.task import STATES, id_from_filename
from . import Env, emit

if TYPE_CHECKING:
    from ..fleet import Fleet

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
        top = root / "tasks" / state
        try:
            names = os.listdir(top)
        except OSError:
            continue
        for month in [n for n in names if n[:1].isdigit()]:  # done/YYYY-MM/, cancelled/YYYY-MM/
            try:
                names += os.listdir(top / month)
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


sla_option = click.option(
    "--sla",
    "sla",
    multiple=True,
    metavar="SPEC",
    help="How long it may stay in a state: 4h (each of ready, in-progress, review), or "
    "STATE=DURATION (review=1d; repeat); none removes it. Durations: 30m, 4h, 2d, 1h30m.",
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


def show_line(fleet: Fleet, task: Any, verb: str) -> str:
    return f"{task.id} {verb}: {task.state.value}  {fleet.tasks.rel(task.path)}"


def out_task(env: Env, task: Any, as_json: bool, verb: str, **extra: Any) -> None:
    """Print the task a command acted on: a :class:`aof.Task`, or a remote fleet's JSON of
    it (the same shape, the same line)."""
    if isinstance(task, dict):
        data = {k: v for k, v in task.items() if k not in ("body", "card", "why")}
        line = f"{data['id']} {verb}: {data['state']}  {data['path']}"
        emit({**data, **extra}, as_json, line)
        return
    fleet = env.fleet()
    data = {**fleet.task_json(task, body=False), **extra} if as_json else {}  # rev: hashlib
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
