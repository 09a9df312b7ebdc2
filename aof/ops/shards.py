"""The terminal states' month shards: a flat ``tasks/done/`` or ``tasks/cancelled/`` (the
layout before shards) found by ``aof doctor``, and moved into ``YYYY-MM/`` by ``--fix``.

A task file directly in ``tasks/done/`` is still read as done (listing, locating, history),
so a fleet keeps working before it is migrated. The month of a task is the UTC month it
entered its state: its ``entered`` field, else ``updated``, else the file's mtime. Every file
is moved with one ``os.rename`` under its task's lock, and all the moves are one commit with
one audit record, so ``git log --follow`` keeps each task's history.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..clock import parse_time
from ..errors import AofError
from ..files import cardfile
from ..model.task import TERMINAL, id_from_filename

if TYPE_CHECKING:
    from ..service.context import ServiceContext
    from .doctor import Report


def flat_files(fleet: ServiceContext, strays: list[str] | None = None) -> list[Path]:
    """Task files directly in ``tasks/done/`` or ``tasks/cancelled/`` (not in a shard); what
    is there and is neither a task file nor a ``YYYY-MM`` shard goes to ``strays``."""
    out: list[Path] = []
    for state in sorted(TERMINAL, key=lambda s: s.value):
        directory = fleet.tasks.state_dir(state)
        if not directory.is_dir() or directory.is_symlink():
            continue
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.name.endswith(".md"):
                shard = layout.is_month(entry.name) and entry.is_dir(follow_symlinks=False)
                if strays is not None and not entry.name.startswith(".") and not shard:
                    strays.append(fleet.tasks.rel(Path(entry.path)))
                continue
            if id_from_filename(entry.name) and entry.is_file(follow_symlinks=False):
                out.append(Path(entry.path))
    return out


def month_of_file(path: Path) -> str:
    """The shard of a flat terminal task file: the month of its ``entered`` time, else of its
    ``updated`` time, else of the file's mtime (UTC)."""
    try:
        meta: dict[str, Any] = cardfile.read(path).meta
    except (AofError, OSError):
        meta = {}
    for key in ("entered", "updated"):
        value = meta.get(key)
        if isinstance(value, datetime):
            return layout.month_of(value if value.tzinfo else value.replace(tzinfo=UTC))
        if isinstance(value, str):
            try:
                return layout.month_of(parse_time(value))
            except ValueError:
                continue
    return layout.month_of(datetime.fromtimestamp(path.stat().st_mtime, UTC))


def check(fleet: ServiceContext, report: Report, fix: bool) -> None:
    """Report a flat terminal directory; with ``fix``, move it into its shards (one commit)."""
    strays: list[str] = []
    files = flat_files(fleet, strays)
    for rel in strays:
        report.add("layout", rel, "not a month shard (YYYY-MM/) nor a task file; never touched")
    if not files:
        return
    rels = [fleet.tasks.rel(p) for p in files]
    shown = ", ".join(rels[:3]) + (f" and {len(rels) - 3} more" if len(rels) > 3 else "")
    if not fix:
        report.add(
            "layout",
            shown,
            f"{len(files)} task file(s) directly in tasks/done/ or tasks/cancelled/: "
            "`aof doctor --fix` moves them into their month's shard (YYYY-MM/)",
        )
        return
    moved = migrate(fleet, files)
    report.add("layout", shown, f"moved {len(moved)} task file(s) into month shards", True)


def migrate(fleet: ServiceContext, files: list[Path]) -> dict[str, str]:
    """Move each of ``files`` into its month's shard; audit and commit all the moves at once.
    Returns old path -> new path (relative to the root)."""
    moved: dict[str, str] = {}
    for path in files:
        tid = id_from_filename(path.name)
        if tid is None:
            continue
        with fleet.tasks.lock(tid):
            if not path.is_file():
                continue  # moved meanwhile (resurrected, or migrated by another process)
            target = path.parent / month_of_file(path) / path.name
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                continue  # a duplicate: the duplicates check reports it
            os.rename(path, target)
        fleet.tasks.remember(tid, path.name)
        moved[fleet.tasks.rel(path)] = fleet.tasks.rel(target)
    if not moved:
        return moved
    from ..journal.audit import Actor

    doctor = Actor("system", "doctor")
    _, audit_path = fleet.audit.append(
        doctor,
        "recovered",
        ("fleet", fleet.config.name),
        reason=f"moved {len(moved)} done/cancelled task file(s) into month shards",
        changes={"moved": dict(list(moved.items())[:100])},
    )
    paths: list[Path | str] = [*moved, *moved.values(), audit_path]
    fleet.git.commit(paths, f"fleet: shard {len(moved)} finished task(s) by month", doctor)
    return moved
