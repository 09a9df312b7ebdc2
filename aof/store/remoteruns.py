"""The RQ executor's records of the runs it handed to other hosts (DESIGN 12).

``.aof/remote-runs/<run id>.json`` holds what the executor submitted (task, attempt, lease
token, holder, coder, host, RQ job id, when) and what it did since (``cancelled``: when it
sent the stop command, ``abandoned``: when it gave up on a run whose worker is gone). What
the run's worker reports through the API is kept apart (:mod:`aof.store.remotereports`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import layout
from ..files.atomic import write_json
from ..files.privatefiles import private_dir


def record_path(root: Path, run_id: str) -> Path:
    return layout.remote_runs(root) / f"{run_id}.json"


def write_record(root: Path, run_id: str, data: dict[str, Any]) -> None:
    private_dir(layout.private(root))
    private_dir(layout.remote_runs(root))
    write_json(record_path(root, run_id), data, private=True)


def read_record(root: Path, run_id: str) -> dict[str, Any] | None:
    try:
        data = json.loads(record_path(root, run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def update_record(root: Path, run_id: str, **changes: Any) -> dict[str, Any] | None:
    record = read_record(root, run_id)
    if record is None:
        return None
    record.update(changes)
    write_record(root, run_id, record)
    return record


def run_ids(root: Path) -> list[str]:
    """Every remote run the executor keeps a record of, sorted."""
    try:
        names = os.listdir(layout.remote_runs(root))
    except FileNotFoundError:
        return []
    return sorted(n[: -len(".json")] for n in names if n.endswith(".json") and n[0] != ".")


def drop(root: Path, run_id: str) -> None:
    """Forget a settled remote run (its folder under ``runs/`` stays)."""
    record_path(root, run_id).unlink(missing_ok=True)
