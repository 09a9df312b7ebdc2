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
    """ao-fleet's rollup of desired vs observed, whether the daemon runs, and the hosts
    whose workers went silent (``hosts_down``)."""
    from .ops.hosts import host_rows
    from .ops.reconcile import evaluate
    from .ops.reconcile import health as rollup

    running = daemon_info(fleet)["running"]
    down = [r["slug"] for r in host_rows(fleet) if r["down"]]
    return {"daemon_running": running, **rollup(evaluate(fleet, team=team)), "hosts_down": down}


# --- hosts and their runs ----------------------------------------------------------------


def host_rows(fleet: Fleet) -> list[dict[str, Any]]:
    """Every host with its workers, slots in use, last heartbeat and whether it is down."""
    from .ops.hosts import host_rows as rows

    return rows(fleet)


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


# --- the remote API: scoped tokens and what remote runs and hosts report -------------------


def mint_run_token(
    fleet: Fleet, task_id: str, run_id: str, actor: str, *, host: str | None = None
) -> str:
    """A run token for ``actor`` (``agent:coder-1``): only task ``task_id``'s lease verbs and
    run ``run_id``'s uploads (``host``: where the run is placed). Revoked when the run
    settles (:func:`revoke_token`). The secret is returned once and kept nowhere."""
    from .store.apitokens import TokenStore

    store = TokenStore(fleet.root, clock=fleet.clock, ids=fleet.ids)
    return store.mint("run", actor, task=task_id, run=run_id, host=host)


def mint_worker_token(fleet: Fleet, host: str, *, rotate: bool = False) -> str:
    """A worker token for the host ``host`` (registered): its heartbeat and its runs'
    uploads, as ``system:worker-<host>``. A host has one: ``rotate`` replaces it (the old
    one stops working at once); without it, a second is refused."""
    from .errors import NotFound, ValidationError
    from .store.apitokens import TokenStore

    if host not in {row["slug"] for row in fleet.registry.rows("host")}:
        raise NotFound(f"host {host!r}: no such host (hosts/{host}.md); `aof host list`")
    store = TokenStore(fleet.root, clock=fleet.clock, ids=fleet.ids)
    had = [e for e in store.entries().values() if e["kind"] == "worker" and e["host"] == host]
    if had and not rotate:
        raise ValidationError(
            f"host {host}: it has a worker token already (made {had[0]['created']}); "
            "--rotate replaces it"
        )
    store.revoke(kind="worker", host=host)
    return store.mint("worker", f"system:worker-{host}", host=host)


def revoke_token(
    fleet: Fleet,
    *,
    secret: str | None = None,
    run: str | None = None,
    task: str | None = None,
    host: str | None = None,
    kind: str | None = None,
) -> int:
    """Revoke the scoped tokens matching every criterion given; returns how many."""
    from .store.apitokens import TokenStore

    store = TokenStore(fleet.root, clock=fleet.clock)
    return store.revoke(secret=secret, run=run, task=task, host=host, kind=kind)


def token_scope(fleet: Fleet | Path, secret: str | None) -> dict[str, Any] | None:
    """The scope of a run or worker token (kind, actor, task, run, host, created, expires),
    or None for an unknown, revoked or expired one. Takes a fleet or a fleet root."""
    from .store.apitokens import TokenStore

    if isinstance(fleet, Path):
        return TokenStore(fleet).scope(secret)
    return TokenStore(fleet.root, clock=fleet.clock).scope(secret)


def run_on_host(fleet: Fleet, run_id: str, host: str) -> bool:
    """Whether the run ``run_id`` was placed on ``host`` (a run token was minted for it
    there): what a worker token may upload for."""
    from .store.apitokens import TokenStore

    return run_id in TokenStore(fleet.root).runs_of_host(host)


def run_log(fleet: Fleet, run_id: str, name: str, data: bytes, offset: int) -> int:
    """Append a remote run's log bytes that start at ``offset``; the file's new size
    (:func:`aof.store.remotereports.append_log`)."""
    from .store.remotereports import append_log

    return append_log(fleet.root, run_id, name, data, offset)


def run_status(
    fleet: Fleet, run_id: str, fields: dict[str, Any], *, host: str | None = None
) -> dict[str, Any]:
    """Keep a remote run's status report (``.aof/run-reports/<run>.json``)."""
    from .store.remotereports import write_status

    return write_status(fleet.root, run_id, fields, host=host, now=fleet.clock.now())


def host_heartbeat(fleet: Fleet, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Keep a worker host's heartbeat (``.aof/host-beats/<host>.json``); the answer also
    names the host's ``capacity_slots`` (the size of an ``aof worker`` pool not given
    ``--slots``)."""
    from .store.remotereports import write_host_beat

    beat = write_host_beat(fleet.root, slug, fields, now=fleet.clock.now())
    host = next((h for h in fleet.registry.rows("host") if h["slug"] == slug), None)
    return {**beat, "capacity_slots": int((host or {}).get("capacity_slots") or 1)}


def host_beats(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Every worker host's last heartbeat, by slug."""
    from .store.remotereports import host_beats as beats

    return beats(fleet.root)


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
    "host_beats",
    "host_heartbeat",
    "host_rows",
    "import_snapshot",
    "load_snapshot",
    "mint_run_token",
    "mint_worker_token",
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
    "revoke_token",
    "run_log",
    "run_on_host",
    "run_status",
    "snapshot_host_changes",
    "staged_files",
    "stop_searches",
    "sync",
    "sync_hosts",
    "token_scope",
]
