"""What a run leaves on disk, read and written safely: ``runs/<task>/<attempt>/`` (the run
folder, which the agent writes too) and the outcome its supervisor sealed under
``.aof/outcomes/`` when it settled the run.

A run folder is read back without following links, regular files only and size-capped
(:func:`read_json`); an outcome is trusted only from its sealed copy (:func:`read_outcome`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import layout
from ..files.atomic import write_json
from ..files.safefs import read_text_or_none


def attempts(root: Path, task_id: str) -> list[int]:
    """The attempt numbers of a task's run folders (``runs/<task>/<n>/``), ascending."""
    try:
        return sorted(int(n) for n in os.listdir(layout.task_runs(root, task_id)) if n.isdigit())
    except FileNotFoundError:
        return []


def latest_run_dir(root: Path, task_id: str) -> Path | None:
    """The folder of a task's latest run (``runs/<task>/<n>/``), None before its first."""
    runs = attempts(root, task_id)
    return layout.run_dir(root, task_id, runs[-1]) if runs else None


def read_json(path: Path) -> dict[str, Any] | None:
    """A run file's JSON object; None when it is missing, not JSON, a link, not a regular file
    or too big (:func:`aof.files.safefs.read_text_or_none`): an agent writes its run folder."""
    text = read_text_or_none(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def outcome_seal(run_dir: Path) -> Path:
    """Where the supervisor keeps the outcome it settled for ``runs/<task>/<n>/``: under
    ``.aof/outcomes/``, outside the folder the agent writes."""
    return layout.sealed_outcome(run_dir.parents[2], run_dir.parent.name, run_dir.name)


def write_outcome(run_dir: Path, result: dict[str, Any]) -> None:
    """Record a run's outcome: ``outcome.json`` in the run folder (for people), then its
    sealed copy (:func:`outcome_seal`), the one aof reads back: once aof sees the seal, the
    people's copy is there too."""
    seal = outcome_seal(run_dir)
    seal.parent.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "outcome.json", result, private=True)
    write_json(seal, result, private=True)


def read_outcome(run_dir: Path) -> dict[str, Any] | None:
    """The outcome the run's supervisor settled, or None before it did. An ``outcome.json``
    the agent wrote or rewrote in its run folder (a process it left behind can, after the
    run ended) is never read: only the sealed copy is."""
    return read_json(outcome_seal(run_dir))
