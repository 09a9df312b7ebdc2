"""Every path of a fleet root, named once.

The fleet's own files (committed to git)::

    aof.yaml                      the fleet's configuration
    tasks/<state>/<id>-<slug>.md  one card per task; the directory is its state
    tasks/done/YYYY-MM/<id>-<slug>.md   done and cancelled: sharded by the UTC month of entry
    teams/ projects/ hosts/ schedules/ agents/ workflows/ knowledge/   registry and memory
    audit/YYYY/MM/DD.jsonl        the audit trail
    runs/<task>/<attempt>/        one run of an agent: its plan, log, report and outcome
    costs/YYYY-MM.jsonl           the cost ledger: one row per settled run, by the month it ended

and what aof keeps for itself under ``.aof/`` (never committed: it can be lost and rebuilt)::

    .aof/locks/<name>.lock        file locks (git, audit, registry, per task, the daemon)
    .aof/cache/<name>             derived data (listings, config, search index)
    .aof/heartbeats/<task>.json   the latest heartbeat of a held task
    .aof/runs/<run id>.json       the executor's record of each live run
    .aof/remote-runs/<run id>.json  the executor's record of each run on another host
    .aof/hosts-down.json          the hosts found silent for hosts.down_after_s
    .aof/outcomes/<task>.<n>.json the sealed copy of a settled run's outcome
    .aof/daemon.json              what the running daemon says about itself
    .aof/coder-pauses.json        coders paused on a usage limit
    .aof/worktrees/<task>/        the git worktree of a task's runs (default place)
    .aof/pending-commits.jsonl    changes waiting for the daemon's batch commit
    .aof/conflicts/               duplicate task files set aside by ``aof doctor --fix``, and
                                  the losing side of a git sync's conflict (``<stamp>/<path>``)
    .aof/origin                   this clone's origin id, stamped on its audit records
    .aof/sync.json                what the last git sync did (``aof.ops.sync``)
    .aof/notify/outbox.jsonl      notification events waiting for the daemon (``aof.notify``)
    .aof/notify/state.json        the delivery worker's cursor, retries and counts
    .aof/notify/deliveries.jsonl  every delivery attempt and its result
    .aof/api-tokens.json          the remote API's run and worker tokens (sha256 hashes only)
    .aof/run-reports/<run id>.json what a remote run's supervisor last reported of it
    .aof/host-beats/<host>.json   a worker host's last heartbeat through the remote API

Each function takes the fleet root and returns an absolute path; nothing here touches the
disk. The rest of aof spells a path of the root only through this module.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

AOF_DIR = ".aof"
RUNS = "runs"
SCHEMAS = "schemas"


def private(root: Path) -> Path:
    """``.aof/``: aof's own state, never committed."""
    return root / AOF_DIR


def lock(root: Path, name: str) -> Path:
    """``.aof/locks/<name>``: a file lock (``git.lock``, ``task-<id>.lock`` ...)."""
    return root / AOF_DIR / "locks" / name


def locks(root: Path) -> Path:
    return root / AOF_DIR / "locks"


def cache(root: Path, name: str) -> Path:
    """``.aof/cache/<name>``: derived data that may vanish at any time."""
    return root / AOF_DIR / "cache" / name


def heartbeats(root: Path) -> Path:
    return root / AOF_DIR / "heartbeats"


def heartbeat(root: Path, task_id: str) -> Path:
    """``.aof/heartbeats/<task>.json``: the latest heartbeat of a held task."""
    return heartbeats(root) / f"{task_id}.json"


def run_records(root: Path) -> Path:
    """``.aof/runs/``: the executor's record of each live run, ``<run id>.json``."""
    return root / AOF_DIR / "runs"


def index_behind(root: Path) -> Path:
    """``.aof/index-behind``: paths committed while another git held ``.git/index.lock``,
    to stage in git's index at the next commit (one per line)."""
    return root / AOF_DIR / "index-behind"


def dispatching(root: Path) -> Path:
    """``.aof/dispatching/``: a dispatcher's intent to claim a task and start its run,
    ``<task>.json``, there only between the two (:mod:`aof.runner.intents`)."""
    return root / AOF_DIR / "dispatching"


def remote_runs(root: Path) -> Path:
    """``.aof/remote-runs/``: the RQ executor's record of each run it handed to another
    host, ``<run id>.json``."""
    return root / AOF_DIR / "remote-runs"


def hosts_down(root: Path) -> Path:
    """``.aof/hosts-down.json``: the hosts the daemon found silent, and since when."""
    return root / AOF_DIR / "hosts-down.json"


def sealed_outcomes(root: Path) -> Path:
    return root / AOF_DIR / "outcomes"


def sealed_outcome(root: Path, task_id: str, attempt: int | str) -> Path:
    """``.aof/outcomes/<task>.<attempt>.json``: the supervisor's sealed copy of an outcome."""
    return sealed_outcomes(root) / f"{task_id}.{attempt}.json"


def daemon_state(root: Path) -> Path:
    """``.aof/daemon.json``: what the running daemon says about itself."""
    return root / AOF_DIR / "daemon.json"


DAEMON_LOCK = "daemon.lock"


def pauses(root: Path) -> Path:
    """``.aof/coder-pauses.json``: coders paused until their usage limit resets."""
    return root / AOF_DIR / "coder-pauses.json"


def pending_commits(root: Path) -> Path:
    """``.aof/pending-commits.jsonl``: changes waiting for the daemon's batch commit."""
    return root / AOF_DIR / "pending-commits.jsonl"


def conflicts(root: Path) -> Path:
    """``.aof/conflicts/``: duplicate task files ``aof doctor --fix`` set aside, and the
    losing versions of a git sync's conflicts (``.aof/conflicts/<stamp>/<path>``)."""
    return root / AOF_DIR / "conflicts"


def origin(root: Path) -> Path:
    """``.aof/origin``: the id of this clone of the fleet root, in its audit records."""
    return root / AOF_DIR / "origin"


def sync_state(root: Path) -> Path:
    """``.aof/sync.json``: what the last git sync (fetch, merge, push) did."""
    return root / AOF_DIR / "sync.json"


def sync_index(root: Path) -> Path:
    """``.aof/sync.index``: the private git index a sync builds its merge in."""
    return root / AOF_DIR / "sync.index"


def gate_process(root: Path, task_id: str) -> Path:
    """``.aof/gates/<task>.json``: the process of a command gate while it runs."""
    return root / AOF_DIR / "gates" / f"{task_id}.json"


def notify_dir(root: Path) -> Path:
    """``.aof/notify/``: notification events and their deliveries (``aof.notify``)."""
    return root / AOF_DIR / "notify"


def notify_outbox(root: Path, segment: int = 0) -> Path:
    """``.aof/notify/outbox.jsonl``: events appended by every process, delivered by the
    daemon (``segment`` 1: ``outbox.1.jsonl``, the one before it, kept for listings)."""
    return notify_dir(root) / ("outbox.jsonl" if segment == 0 else f"outbox.{segment}.jsonl")


def notify_state(root: Path) -> Path:
    """``.aof/notify/state.json``: the delivery worker's cursor, retries, storm and counts."""
    return notify_dir(root) / "state.json"


def notify_deliveries(root: Path, segment: int = 0) -> Path:
    """``.aof/notify/deliveries.jsonl``: every delivery attempt and its result."""
    name = "deliveries.jsonl" if segment == 0 else f"deliveries.{segment}.jsonl"
    return notify_dir(root) / name


def forge_state(root: Path) -> Path:
    """``.aof/forge/state.json``: what the daemon's forge poller last saw of each open PR."""
    return root / AOF_DIR / "forge" / "state.json"


def worktrees(root: Path) -> Path:
    """``.aof/worktrees/``: the runs' git worktrees, unless ``runner.worktrees_dir`` says."""
    return root / AOF_DIR / "worktrees"


def clock_probe(root: Path) -> Path:
    """``.aof/clock-probe``: touched to read the file system's clock."""
    return root / AOF_DIR / "clock-probe"


def runs(root: Path) -> Path:
    """``runs/``: every run of every task, and the daemon's log."""
    return root / RUNS


def task_runs(root: Path, task_id: str) -> Path:
    """``runs/<task>/``: the runs of one task, one directory per attempt."""
    return root / RUNS / task_id


def run_dir(root: Path, task_id: str, attempt: int | str) -> Path:
    """``runs/<task>/<attempt>/``: one run: its plan, log, report and outcome."""
    return root / RUNS / task_id / str(attempt)


def daemon_log(root: Path) -> Path:
    return root / RUNS / "daemon.log"


def schemas(root: Path) -> Path:
    """``schemas/``: aof's JSON schemas, copied for editors (``aof.ops.rootschemas``)."""
    return root / SCHEMAS


COSTS = "costs"


def costs(root: Path) -> Path:
    """``costs/``: the cost ledger, one file per month."""
    return root / COSTS


def cost_month(root: Path, month: str) -> Path:
    """``costs/YYYY-MM.jsonl``: one row per run settled in ``month`` (``aof.store.costs``)."""
    return root / COSTS / f"{month}.jsonl"


def tasks(root: Path) -> Path:
    """``tasks/``: one directory per state."""
    return root / "tasks"


# The terminal states' directories hold one shard per UTC month a task entered them.
SHARDED = ("done", "cancelled")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def is_month(name: str) -> bool:
    """Whether ``name`` is a shard's name, ``YYYY-MM``."""
    return MONTH.fullmatch(name) is not None


def month_of(when: datetime) -> str:
    """``YYYY-MM``: the shard of a task entering a terminal state at ``when`` (UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}"


def task_dir(root: Path, state: str, when: datetime) -> Path:
    """Where a task entering ``state`` at ``when`` goes: ``tasks/<state>/``, or
    ``tasks/<state>/YYYY-MM/`` for a terminal state (the UTC month of ``when``)."""
    if state in SHARDED:
        return root / "tasks" / state / month_of(when)
    return root / "tasks" / state


def task_state(rel: str) -> str | None:
    """The state directory of a task path ``tasks/<state>/<file>`` or
    ``tasks/<done|cancelled>/YYYY-MM/<file>`` (None for any other path)."""
    parts = rel.split("/")
    if parts[0] != "tasks":
        return None
    if len(parts) == 3:
        return parts[1]
    if len(parts) == 4 and parts[1] in SHARDED and is_month(parts[2]):
        return parts[1]
    return None


def api_tokens(root: Path) -> Path:
    """``.aof/api-tokens.json``: the remote API's run and worker tokens, by sha256 hash."""
    return root / AOF_DIR / "api-tokens.json"


def run_reports(root: Path) -> Path:
    return root / AOF_DIR / "run-reports"


def run_report(root: Path, run_id: str) -> Path:
    """``.aof/run-reports/<run id>.json``: a remote run's last status report (state, pid,
    exit code, outcome, meter) as its supervisor sent it through the remote API."""
    return run_reports(root) / f"{run_id}.json"


def host_beats(root: Path) -> Path:
    return root / AOF_DIR / "host-beats"


def host_beat(root: Path, slug: str) -> Path:
    """``.aof/host-beats/<host>.json``: a worker host's last heartbeat (workers, slots)."""
    return host_beats(root) / f"{slug}.json"
