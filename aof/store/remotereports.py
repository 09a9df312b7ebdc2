"""What runs and hosts elsewhere report through the remote API, kept where the local parts
read them:

- a run's log bytes, appended to the files the local supervisor writes in
  ``runs/<task>/<attempt>/`` (:data:`LOG_NAMES`), so ``aof agent logs -f`` and the dashboard
  follow a remote run like a local one; an upload names the offset it starts at, and the
  bytes before the file's current size are skipped, so a retried upload never doubles a line;
- a run's status (state, pid, exit code, outcome, meter) in ``.aof/run-reports/<run>.json``,
  its meter also as the run folder's ``meter.json`` (what ``aof agent list`` reads);
- a host's heartbeat (workers, slots, version) in ``.aof/host-beats/<host>.json``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import layout
from ..clock import format_time
from ..errors import ValidationError
from ..files.atomic import write_json
from ..files.locks import lock_for
from ..files.privatefiles import private_dir
from ..model.task import ID_RE, SLUG_RE

# The files of a run folder a remote supervisor appends to (aof.runner.shim's names).
LOG_NAMES = ("events.jsonl", "stdout.log", "stderr.log", "setup.log", "shim.log")
RUN_ID = re.compile(r"(t-[0-9a-z]{4,16})\.(\d{1,6}(?:-[a-z0-9]{1,40})?)\Z")
STATUS_FIELDS = ("state", "pid", "exit_code", "outcome", "meter", "started", "ended", "error")
HOST_FIELDS = ("workers", "slots", "slots_used", "version", "runs")


def split_run_id(run_id: str) -> tuple[str, str]:
    """``t-3kf9a2.1`` -> (task id, run folder); ValidationError if it is not a run id."""
    found = RUN_ID.match(run_id)
    if not found or not ID_RE.match(found.group(1)):
        raise ValidationError(f"run {run_id!r}: not a run id (<task id>.<attempt>[-<label>])")
    return found.group(1), found.group(2)


def append_log(root: Path, run_id: str, name: str, data: bytes, offset: int) -> int:
    """Append ``data``, which starts at byte ``offset`` of the run's log ``name``; returns
    the file's new size. Bytes already there are skipped; a gap is refused."""
    task, folder = split_run_id(run_id)
    if name not in LOG_NAMES:
        raise ValidationError(f"log name {name!r}: not one of {', '.join(LOG_NAMES)}")
    if offset < 0:
        raise ValidationError(f"offset {offset}: must be 0 or more")
    run_dir = layout.run_dir(root, task, folder)
    private_dir(layout.runs(root))
    private_dir(run_dir)
    path = run_dir / name
    with lock_for(layout.lock(root, f"runlog-{run_id}.lock")):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            size = os.fstat(fd).st_size
            if offset > size:
                raise ValidationError(
                    f"{name} of run {run_id}: offset {offset} is past its end ({size} bytes); "
                    f"send from {size}"
                )
            fresh = data[size - offset :]
            if fresh:
                os.write(fd, fresh)
            return size + len(fresh)
        finally:
            os.close(fd)


def write_status(
    root: Path, run_id: str, fields: dict[str, Any], *, host: str | None, now: datetime
) -> dict[str, Any]:
    """Keep a run's status report (the known fields only); returns what was kept."""
    task, folder = split_run_id(run_id)
    unknown = sorted(set(fields) - set(STATUS_FIELDS))
    if unknown:
        known = ", ".join(STATUS_FIELDS)
        raise ValidationError(f"run status: unknown field {unknown[0]!r} ({known})")
    report = {"run": run_id, "task": task, "host": host, "at": format_time(now), **fields}
    private_dir(layout.run_reports(root))
    write_json(layout.run_report(root, run_id), report, private=True)
    if isinstance(fields.get("meter"), dict):
        run_dir = layout.run_dir(root, task, folder)
        private_dir(layout.runs(root))
        private_dir(run_dir)
        write_json(run_dir / "meter.json", fields["meter"], private=True)
    return report


def read_status(root: Path, run_id: str) -> dict[str, Any] | None:
    return _read(layout.run_report(root, run_id))


def write_host_beat(
    root: Path, slug: str, fields: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    """Keep a host's heartbeat; returns what was kept."""
    if not SLUG_RE.match(slug):
        raise ValidationError(f"host {slug!r}: not a host slug")
    unknown = sorted(set(fields) - set(HOST_FIELDS))
    if unknown:
        known = ", ".join(HOST_FIELDS)
        raise ValidationError(f"host heartbeat: unknown field {unknown[0]!r} ({known})")
    beat = {"host": slug, "at": format_time(now), **fields}
    private_dir(layout.host_beats(root))
    write_json(layout.host_beat(root, slug), beat, private=True)
    return beat


def host_beats(root: Path) -> dict[str, dict[str, Any]]:
    """Every host's last heartbeat, by slug."""
    try:
        names = sorted(os.listdir(layout.host_beats(root)))
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            beat = _read(layout.host_beats(root) / name)
            if beat is not None:
                out[name[: -len(".json")]] = beat
    return out


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
