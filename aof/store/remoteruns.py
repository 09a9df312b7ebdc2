"""Runs on other hosts, as the coordinator keeps them (DESIGN 12).

A run the coordinator handed to a host's queue has a record in
``.aof/remote-runs/<run id>.json`` (what the executor submitted: task, attempt, lease token,
holder, coder, host, when) and, once its worker reports, ``<run id>.report.json``: the
latest status its worker sent through the API (``state``, ``pid``, ``exit_code``,
``outcome``, ``meter``, and when the run ended, its ``ending``: what the coordinator settles
it with). The run's folder ``runs/<task>/<attempt>/`` on the coordinator receives the log
bytes the worker uploads (``events.jsonl``, ``coder.log``) and the run's ``meter.json``, so
``aof agent logs``, ``aof top`` and the dashboard read a remote run like a local one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import ValidationError
from ..files.atomic import write_json
from ..files.locks import Lock
from ..files.privatefiles import private_dir

RUN_ID_RE = re.compile(r"(t-[a-z0-9]{4,16})\.([0-9]{1,6}(?:-[a-z0-9-]{1,40})?)\Z")
LOG_NAMES = ("events.jsonl", "coder.log")
REPORT_FIELDS = ("state", "pid", "exit_code", "outcome", "meter", "ending", "host", "worker")
MAX_LOG_BYTES = 64 * 1024 * 1024  # a run's uploaded log stops growing past this


def split_run_id(run_id: str) -> tuple[str, str]:
    """``t-abc.2`` -> (``t-abc``, ``2``); ValidationError for anything else (a run id names a
    folder under ``runs/``: nothing that could leave it)."""
    match = RUN_ID_RE.match(str(run_id))
    if match is None:
        raise ValidationError(f"run id {run_id!r}: must be <task id>.<attempt>, like t-3kf9a2.1")
    return match.group(1), match.group(2)


def record_path(root: Path, run_id: str) -> Path:
    return layout.remote_runs(root) / f"{run_id}.json"


def report_path(root: Path, run_id: str) -> Path:
    return layout.remote_runs(root) / f"{run_id}.report.json"


def _lock(root: Path, run_id: str) -> Lock:
    return Lock(layout.lock(root, f"remote-{run_id}.lock"))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(root: Path, run_id: str, data: dict[str, Any]) -> None:
    split_run_id(run_id)
    private_dir(layout.private(root))
    private_dir(layout.remote_runs(root))
    write_json(record_path(root, run_id), data, private=True)


def read_record(root: Path, run_id: str) -> dict[str, Any] | None:
    return _read(record_path(root, run_id))


def run_ids(root: Path) -> list[str]:
    """Every remote run the coordinator keeps a record of, sorted."""
    try:
        names = os.listdir(layout.remote_runs(root))
    except FileNotFoundError:
        return []
    out = [n[: -len(".json")] for n in names if n.endswith(".json") and ".report." not in n]
    return sorted(n for n in out if RUN_ID_RE.match(n))


def drop(root: Path, run_id: str) -> None:
    """Forget a settled remote run (its folder under ``runs/`` stays)."""
    record_path(root, run_id).unlink(missing_ok=True)
    report_path(root, run_id).unlink(missing_ok=True)
    layout.lock(root, f"remote-{run_id}.lock").unlink(missing_ok=True)


def write_report(root: Path, run_id: str, fields: dict[str, Any], at: str) -> dict[str, Any]:
    """Record a worker's status report of ``run_id`` (only a run the coordinator handed out:
    NotFound-like ValidationError otherwise); its meter goes to the run folder's
    ``meter.json``. Returns the report as kept."""
    task_id, folder = split_run_id(run_id)
    if read_record(root, run_id) is None:
        raise ValidationError(f"run {run_id}: no such remote run on this coordinator")
    report = {k: fields[k] for k in REPORT_FIELDS if k in fields}
    state = report.get("state", "running")
    if state not in ("running", "exited"):
        raise ValidationError(f"run {run_id}: state: must be running or exited (got {state!r})")
    if report.get("ending") is not None and not isinstance(report["ending"], dict):
        raise ValidationError(f"run {run_id}: ending: must be a mapping (got {report['ending']!r})")
    report["updated"] = at
    path = report_path(root, run_id)
    with _lock(root, run_id):
        old = _read(path) or {}
        if old.get("state") == "exited":
            return old  # the end is reported once; a late "running" never revives a run
        write_json(path, {**old, **report}, private=True)
    meter = report.get("meter")
    if isinstance(meter, dict):
        run_dir = layout.run_dir(root, task_id, folder)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "meter.json", meter)
    return {**old, **report}


def read_report(root: Path, run_id: str) -> dict[str, Any] | None:
    return _read(report_path(root, run_id))


def append_log(root: Path, run_id: str, name: str, data: bytes, offset: int) -> int:
    """Append a worker's upload of ``name`` at ``offset`` to the run's folder; idempotent on
    retry (bytes before the file's current size are skipped). Returns the file's new size;
    ValidationError for an unknown name, a gap (``offset`` past the end) or a run the
    coordinator did not hand out."""
    task_id, folder = split_run_id(run_id)
    if name not in LOG_NAMES:
        raise ValidationError(f"log name {name!r}: must be one of {', '.join(LOG_NAMES)}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset {offset!r}: must be a whole number >= 0")
    if read_record(root, run_id) is None:
        raise ValidationError(f"run {run_id}: no such remote run on this coordinator")
    run_dir = layout.run_dir(root, task_id, folder)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    with _lock(root, run_id):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        try:
            size = os.fstat(fd).st_size
            if offset > size:
                raise ValidationError(
                    f"run {run_id}: {name}: offset {offset} is past its end ({size} bytes)"
                )
            fresh = data[size - offset :]
            if size + len(fresh) > MAX_LOG_BYTES:
                fresh = fresh[: max(MAX_LOG_BYTES - size, 0)]
            if fresh:
                os.write(fd, fresh)
            return size + len(fresh)
        finally:
            os.close(fd)
