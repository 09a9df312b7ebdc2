"""The ``aof`` command line: a thin front end over :class:`aof.Fleet`.

Every command parses its arguments, makes one Fleet call and renders the result (text, or
JSON with ``--json``). Errors are mapped in one place, :class:`AofGroup`: an
:class:`aof.errors.AofError` becomes ``Error: <message>`` on stderr and its exit code
(docs/exit-codes.md). Read-only commands import neither mcp, watchdog nor a git library.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import click

from ..errors import AofError
from .safe_text import safe_text

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..fleetapi import Actor
    from ..remote.client import RemoteFleet

# Command name -> "module:attribute", imported only when that command runs (or help lists it).
LAZY_COMMANDS = {
    "audit": "root:audit",
    "completion": "completion:completion_cmd",
    "board": "root:board",
    "doctor": "root:doctor",
    "history": "root:history",
    "init": "root:init",
    "lint": "root:lint",
    "task": "task:task",
    "team": "registry:team",
    "project": "registry:project",
    "host": "registry:host",
    "schedule": "registry:schedule",
    "agent": "agents:agent",
    "worktree": "agents:worktree_group",
    "top": "agents:top_cmd",
    "fleet": "fleet:fleet_group",
    "gate": "gate:gate",
    "forge": "forgestatus:forge_group",
    "plan": "plan:plan_cmd",
    "why": "plan:why_cmd",
    "cost": "cost:cost_cmd",
    "snapshot": "fleet:snapshot_group",
    "daemon": "daemon:daemon_group",
    "reconcile": "daemon:reconcile_cmd",
    "mcp": "mcp:mcp_group",
    "serve": "serve:serve_cmd",
    "worker": "worker:worker_cmd",
    "notify": "notify:notify_group",
    "knowledge": "knowledge:knowledge",
    "issues": "issues:issues_group",
    "sync": "sync:sync_cmd",
}


class LazyGroup(click.Group):
    """A group that imports the commands of ``lazy`` (name: "module:attr" of a module of
    aof.cli) only when one of them is called or listed."""

    lazy: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(f".{module}", __name__), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


class AofGroup(LazyGroup):
    """The root group: loads command modules lazily, and turns AofError into one line on
    stderr and the documented exit code."""

    lazy = LAZY_COMMANDS

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AofError as exc:
            click.echo(safe_text(f"Error: {exc}"), err=True)
            ctx.exit(exc.exit_code)


class Env:
    """What the root group resolved: root, actor, commit switch, and the command's
    ``--reason``; builds the Fleet lazily."""

    def __init__(self, root: str | None, actor: str | None, commit: bool | None) -> None:
        self.root_opt = root
        self.actor = actor
        self.commit = commit
        self.reason: str | None = None
        self.force = False  # --force: an explicit, audited override of another's lease
        self._fleet: Fleet | None = None
        self._remote: RemoteFleet | None = None

    def remote(self) -> RemoteFleet | None:
        """The remote fleet of ``AOF_API_URL`` with ``AOF_API_TOKEN`` (when both are set and
        no ``--root``/``AOF_ROOT`` is given), else None: the command acts on a local root."""
        url, token = os.environ.get("AOF_API_URL"), os.environ.get("AOF_API_TOKEN")
        if self.root_opt or not url or not token:
            return None
        if self._remote is None:
            from ..model.task import check_ref
            from ..remote.client import RemoteFleet
            from .confine import check_command

            if self.force and not self.reason:
                raise click.UsageError("--force needs --reason TEXT (it is audited)")
            check_command(click.get_current_context(), self.force, check_ref)
            self._remote = RemoteFleet(url, token)
        self._remote.reason, self._remote.force = self.reason, self.force
        return self._remote

    def do(self, local: Callable[[Fleet], Any], remote: Callable[[RemoteFleet], Any]) -> Any:
        """``remote(the remote fleet)`` in remote mode (:meth:`remote`), else
        ``local(the fleet)``."""
        api = self.remote()
        return remote(api) if api is not None else local(self.fleet())

    def fleet(self) -> Fleet:
        if self._fleet is None:
            from ..fleet import Fleet
            from ..fleetapi import find_root

            try:
                root = find_root(self.root_opt, None, Path.cwd())
            except AofError as exc:
                if os.environ.get("AOF_API_URL") and not self.root_opt:
                    raise type(exc)(
                        f"{exc} (AOF_API_URL is set: against a remote fleet only the "
                        "`aof task` verbs work; run this on the coordinator's fleet root)"
                    ) from None
                raise
            actor: Any = self.actor or (lambda: person(root))
            if self.force and not self.reason:
                raise click.UsageError("--force needs --reason TEXT (it is audited)")
            fleet = Fleet(root, actor=actor, commit=self.commit, reason=self.reason)
            from .confine import check_command

            check_command(
                click.get_current_context(), self.force, lambda ref: fleet.tasks.locate(ref).id
            )
            fleet.override_lease = self.force
            fleet.git.warn = lambda text: click.echo(f"warning: {text}", err=True)
            self._fleet = fleet
        return self._fleet


def person(root: Path | None = None) -> Actor:
    """The person running the command (:func:`aof.fleetapi.person`): ``AOF_ACTOR``,
    else git's user.name of the fleet root, else the login name. Agents get
    ``AOF_ACTOR=agent:<name>``
    from the runner, which ``--actor`` takes as it is."""
    from ..fleetapi import person as the_person

    return the_person(root)


def default_actor(root: Path | None = None) -> str:
    """:func:`person` as ``human:<name>`` text."""
    return str(person(root))


pass_env = click.make_pass_decorator(Env)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON (stable shapes) or ``text`` for people."""
    if as_json:
        # Indented for a person at a terminal; compact for pipes (json's C encoder is only
        # used without indent: 5x faster on a 10,000-task listing). Long lists are written
        # row by row, so a big listing never sits in memory twice as one string.
        if isinstance(data, list) and not sys.stdout.isatty():
            out = sys.stdout
            out.write("[")
            for i, row in enumerate(data):
                out.write(("," if i else "") + json.dumps(row, ensure_ascii=False, default=str))
            out.write("]\n")
            out.flush()
            return
        indent = 2 if sys.stdout.isatty() else None
        click.echo(json.dumps(data, ensure_ascii=False, indent=indent, default=str))
    elif text is not None:
        click.echo(safe_text(text))


def iso_at(value: str | None, hint: str = "--at") -> str | None:
    """An ISO time option in aof's own form (``...Z``); None passes through; usage error if bad."""
    if value is None:
        return None
    from ..clock import format_time

    return format_time(parse_at(value, hint))


def parse_at(value: str | None, hint: str = "--at") -> Any:
    """An ``--at TIME`` value as an aware datetime (None passes through); usage error if bad."""
    if value is None:
        return None
    from ..clock import parse_time

    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=hint) from None


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/cli.md).")

FC = TypeVar("FC", bound=Callable[..., Any])
REASON_HELP = "Why: the reason of every audit record this command makes."


def reason_option(command: FC) -> FC:
    """``--reason TEXT`` for a command that changes the fleet root: a decorator of a command
    function (put it with the command's other options), or of a ``click.Command``."""
    if isinstance(command, click.Command):
        names = [p.name for p in command.params]
        at = names.index("as_json") if "as_json" in names else len(names)  # --json stays last
        command.params.insert(at, click.Option(["--reason"], metavar="TEXT", help=REASON_HELP))
        command.callback = _taking_reason(command.callback)
        return command
    return cast(
        FC, click.option("--reason", metavar="TEXT", help=REASON_HELP)(_taking_reason(command))
    )


def _taking_reason(callback: Any) -> Any:
    """``callback`` without its ``reason`` argument, which goes to the Env (checked first,
    so a bad reason changes nothing) and from there to every audit record of the call."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from ..fleetapi import check_reason

        text = kwargs.pop("reason", None)
        env = click.get_current_context().find_object(Env)
        if env is not None:
            env.reason = check_reason(text)
        return callback(*args, **kwargs)

    return run


@click.group(cls=AofGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    envvar="AOF_ROOT",
    metavar="DIR",
    help="Fleet root (default: $AOF_ROOT, else the nearest aof.yaml upward).",
)
@click.option(
    "--actor",
    envvar="AOF_ACTOR",
    metavar="KIND:NAME",
    help="Who the change is attributed to ($AOF_ACTOR; default: human:<git user.name, "
    "else login name>).",
)
@click.option(
    "--commit/--no-commit",
    default=None,
    help="Commit each change to git (default: git.commit in aof.yaml).",
)
@click.version_option(package_name="aof", prog_name="aof")
@click.pass_context
def cli(ctx: click.Context, root: str | None, actor: str | None, commit: bool | None) -> None:
    """aof: a filesystem-native control plane for fleets of AI coding agents.

    Tasks, teams and projects are Markdown files in a git repository (the fleet root);
    a task's state is its directory, and every change is an audit record and a commit.

    With AOF_SERVER=1 in the environment, calls are handed to a command server of this
    user that imported aof once and holds the open tasks it read: a call pays neither for
    importing aof nor for reading those tasks again (docs/operations.md, "A faster CLI").

    \b
    Example:
      aof init my-fleet && cd my-fleet
      aof task create "Fix the login bug" --priority high --ready
      aof task list
    """
    from .confine import AGENT_COMMANDS, agent_of, check_actor

    check_actor(ctx, actor)
    agent = agent_of(os.environ)
    if agent and ctx.invoked_subcommand and ctx.invoked_subcommand not in AGENT_COMMANDS:
        from ..errors import LeaseError

        raise LeaseError(
            f"`aof {ctx.invoked_subcommand}`: not allowed in an agent's environment ({agent})"
        )
    ctx.obj = Env(root, actor, commit)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="aof")
    except AofError as exc:  # raised outside a command (e.g. during completion)
        click.echo(safe_text(f"Error: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("AOF_DEBUG"):
            raise
        click.echo(
            f"Error: internal error: {type(exc).__name__}: {exc} "
            "(set AOF_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(70)
