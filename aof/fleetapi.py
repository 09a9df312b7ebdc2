"""The rest of the front door: whole-fleet operations as functions of a :class:`aof.Fleet`,
and what a front end needs before it has one.

Beside :class:`aof.Fleet` (the verbs on tasks, the registry and knowledge), this module is
the one other place the CLI and the MCP server call into the library: the overview,
reconcile and health, registry snapshots, a task's history, host sync, the daemon's state
file (each takes the fleet first), and finding the root, the person at the keyboard and
parsing a value (no fleet needed). Everything is imported when called: a CLI call pays
only for what it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .journal.audit import Actor

if TYPE_CHECKING:
    from .fleet import Fleet
    from .ops.reconcile import Row

# --- static: no fleet root needed ----------------------------------------------------------


def find_root(explicit: str | None, env_root: str | None, cwd: Path) -> Path:
    """The fleet root: ``explicit``, else ``env_root``, else the nearest ``aof.yaml`` upward
    from ``cwd`` (:func:`aof.model.config.find_root`)."""
    from .model.config import find_root as find

    return find(explicit, env_root, cwd)


def person(root: Path | None = None) -> Actor:
    """The person at the keyboard (:func:`aof.journal.identity.human`): ``AOF_ACTOR``, else
    git's user.name of the fleet root, else the login name."""
    from .journal.identity import human

    return human(root)


def parse_actor(text: str) -> Actor:
    """``KIND:NAME`` (or ``NAME``) as an :class:`Actor`; ValidationError if malformed."""
    return Actor.parse(text)


def check_reason(text: str | None) -> str | None:
    """A ``--reason`` text checked (:func:`aof.journal.audit.check_reason`): None or blank
    is no reason; one that is too long or not printable is refused."""
    from .journal.audit import check_reason as check

    return check(text)


def parse_value(text: str) -> Any:
    """One YAML value as a card field holds it (:func:`aof.files.cardfile.parse_value`)."""
    from .files.cardfile import parse_value as parse

    return parse(text)


def parse_window(spec: str) -> dict[str, Any]:
    """A schedule window ``WEEKDAY,START,END`` as its card form."""
    from .registry.schedule import parse_window as parse

    return parse(spec)


def check_coder(root: Path, coder: str) -> None:
    """Refuse (ConfigError) a coder name the fleet root's aof.yaml does not know."""
    from .coders.resolve import adapter_for
    from .model.config import load_config

    adapter_for(coder, load_config(root).data)


def load_snapshot(path: str) -> Any:
    """A snapshot file as read (:func:`aof.registry.snapshot.load`); checked on import."""
    from .registry.snapshot import load

    return load(path)


def stop_searches() -> None:
    """Stop every knowledge search running in this process (a server shutting down)."""
    from .knowledge.index import STOP

    STOP.set()


# --- views ------------------------------------------------------------------------------


def overview(fleet: Fleet, *, team: str | None = None, at: datetime | None = None) -> Any:
    """The fleet overview (:func:`aof.ops.overview.overview`)."""
    from .ops.overview import overview as view

    return view(fleet, team=team, at=at)


def founder(fleet: Fleet, *, at: datetime | None = None) -> Any:
    """The overview plus placements, overrides, agents and a longer audit tail."""
    from .ops.overview import founder as view

    return view(fleet, at=at)


def history(fleet: Fleet, ref: str) -> dict[str, Any]:
    """A task's audit records and commits (:func:`aof.ops.history.history`)."""
    from .ops.history import history as of

    return of(fleet, ref)


def daemon_info(fleet: Fleet) -> dict[str, Any]:
    """The daemon of this fleet root: running?, pid, host, ticks, last tick
    (:func:`aof.store.daemonstate.daemon_info`)."""
    from .store.daemonstate import daemon_info as info

    return info(fleet.root)


def staged_files(fleet: Fleet) -> list[str]:
    """The paths (absolute) of the files staged in the fleet root's git index."""
    from .journal.githook import staged

    return [str(fleet.root / p) for p in staged(fleet.root)]


# --- desired vs observed ----------------------------------------------------------------


def project_states(
    fleet: Fleet, *, team: str | None = None, daemon_alive: bool | None = None
) -> list[dict[str, Any]]:
    """Each project's desired and observed state and the action reconcile would take
    (:func:`aof.ops.reconcile.evaluate`), as JSON rows."""
    from .ops.reconcile import evaluate

    return [r.to_json() for r in evaluate(fleet, team=team, daemon_alive=daemon_alive)]


def health(fleet: Fleet, *, team: str | None = None) -> dict[str, Any]:
    """ao-fleet's rollup of desired vs observed, and whether the daemon runs."""
    from .ops.reconcile import evaluate
    from .ops.reconcile import health as rollup

    running = daemon_info(fleet)["running"]
    return {"daemon_running": running, **rollup(evaluate(fleet, team=team))}


def reconcile(
    fleet: Fleet, *, at: datetime | None = None, team: str | None = None, do_apply: bool = False
) -> tuple[list[Row], dict[str, Any]]:
    """Evaluate (and with ``do_apply`` carry out) reconcile: the rows and the JSON
    (:func:`aof.ops.reconcile.run`)."""
    from .ops.reconcile import run

    return run(fleet, at=at, team=team, do_apply=do_apply)


def ao_project_root(fleet: Fleet, slug: str) -> str:
    """The AO project root of the project ``slug``; ValidationError if it is not one."""
    from .errors import ValidationError
    from .ops.reconcile import ao_root

    root = ao_root(fleet.registry.get("project", slug).meta)
    if root is None:
        raise ValidationError(
            f"project {slug} is not an AO project (no ao_project_root, and no .ao/ in its "
            "root_path)"
        )
    return root


# --- the registry as a whole ------------------------------------------------------------


def export_snapshot(fleet: Fleet) -> dict[str, Any]:
    """Every registry file as one JSON snapshot (:func:`aof.registry.snapshot.export`)."""
    from .registry.snapshot import export

    return export(fleet)


def snapshot_host_changes(fleet: Fleet, snap: Any, where: str = "snapshot") -> list[str]:
    """What importing ``snap`` would set that the daemon runs or copies on this host (new
    or changed setup commands, credential files), one line each."""
    from .registry.snapshot import describe, host_changes

    return [describe(c) for c in host_changes(fleet, snap, where=where)]


def import_snapshot(
    fleet: Fleet, snap: Any, where: str = "snapshot", *, allow_host_changes: bool = False
) -> list[str]:
    """Import ``snap`` all or nothing in one commit; the paths written."""
    from .registry.snapshot import import_

    return import_(fleet, snap, where=where, allow_host_changes=allow_host_changes)


def sync_hosts(
    fleet: Fleet,
    base_url: str | None = None,
    *,
    auth_token: str | None = None,
    register_missing: bool = False,
    team: str | None = None,
    prune: bool = False,
) -> dict[str, Any]:
    """Sync one hostd, or every host whose address is a URL
    (:func:`aof.registry.hostsync_all.sync_hosts`): ``{"synced": [...], "failed": [...]}``."""
    from .registry.hostsync_all import sync_hosts as sync

    return sync(
        fleet.registry,
        base_url,
        auth_token=auth_token,
        register_missing=register_missing,
        team=team,
        prune=prune,
    )


# --- notifications -------------------------------------------------------------------------


def notify_list(fleet: Fleet, limit: int = 20) -> dict[str, Any]:
    """The last ``limit`` notification events and their deliveries per channel, with the
    counts per channel and result (:func:`aof.notify.listing.recent`)."""
    from .notify.listing import recent

    return recent(fleet.root, fleet.config.data, limit)


def notify_test(
    fleet: Fleet, channel: str | None, environ: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Send a test message now to ``channel`` (None: every channel), ``${VAR}`` taken from
    ``environ``: per channel ``{channel, target, ok, error}``
    (:func:`aof.notify.listing.test_channels`)."""
    from .clock import format_time
    from .notify.listing import test_channels

    at = format_time(fleet.clock.now())
    return test_channels(fleet.root, fleet.config.data, channel, environ, at)


# --- cost -----------------------------------------------------------------------------------


def cost(fleet: Fleet, month: str | None = None, by: str = "team") -> dict[str, Any]:
    """What runs cost in ``month`` (``YYYY-MM``; default: the clock's month), added up by
    team, project, coder, agent, task or model (:func:`aof.service.costs.report`); each
    group of teams and projects with its monthly budget."""
    from .service.costs import report, with_budgets

    month = month or fleet.clock.now().strftime("%Y-%m")
    return with_budgets(report(fleet.root, month, by), fleet.registry)


def recent_audit(fleet: Fleet, n: int) -> list[dict[str, Any]]:
    """The last ``n`` readable audit records, oldest first (:func:`aof.journal.audit.tail`:
    the cost follows ``n``, not the length of the trail)."""
    from .journal.audit import tail

    return tail(fleet.audit, n)


def sync(fleet: Fleet, *, person: bool = True, push: bool = True, hold: Any = None) -> Any:
    """Fetch, merge and push with ``git.remote`` (:func:`aof.ops.sync.sync`). ``person``: a
    person's clone (``aof sync``): the person's finished hand edits are committed first, a
    conflict keeps the remote's version, incoming changes are not audited here (the
    coordinator does), and the merged root is linted before the push; else the
    coordinator's daemon: a conflict keeps this clone's version and the incoming hand edits
    are audited as their authors'."""
    from .ops.sync import sync as run

    if person:
        return run(
            fleet,
            prefer="theirs",
            audit_incoming=False,
            push_after=push,
            lint=fleet.lint,
            commit_local=True,
        )
    return run(fleet, prefer="ours", audit_incoming=True, push_after=push, hold=hold)


def cost_months(fleet: Fleet) -> list[str]:
    """The months the cost ledger has runs in (``YYYY-MM``), newest first."""
    from .store.costs import months

    return months(fleet.root)[::-1]


__all__ = [
    "Actor",
    "ao_project_root",
    "check_coder",
    "check_reason",
    "cost",
    "cost_months",
    "daemon_info",
    "export_snapshot",
    "find_root",
    "founder",
    "health",
    "history",
    "import_snapshot",
    "load_snapshot",
    "notify_list",
    "notify_test",
    "overview",
    "parse_actor",
    "parse_value",
    "parse_window",
    "person",
    "project_states",
    "recent_audit",
    "reconcile",
    "snapshot_host_changes",
    "staged_files",
    "stop_searches",
    "sync",
    "sync_hosts",
]
