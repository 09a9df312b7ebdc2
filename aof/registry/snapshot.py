"""Registry snapshots: export every registry file, import them all or none.

A snapshot is JSON ``{"version": "aof-snapshot/v1", "exported_at", "fleet", "files": [{"path",
"text"}]}`` holding each registry card's exact text, so importing into an empty fleet root
reproduces the files byte for byte. Import parses and validates every card, and every
reference (against the snapshot plus what the root already has), before it writes anything;
then it writes all files and makes one commit. A broken snapshot changes nothing. Entries the
root has and the snapshot lacks are kept (import never deletes).

A project's ``setup`` commands run in a shell on the daemon's host, and its
``credential_files`` say what is copied into each worktree: a snapshot that adds or changes
them is code to run. :func:`host_changes` lists those changes, and
:func:`import_` applies them only when told to (``aof snapshot import`` shows them and asks,
or takes ``--yes``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import format_time
from ..errors import ValidationError
from ..files import cardfile
from . import NOUNS
from .spec import SLUG_RE, references, validate

if TYPE_CHECKING:
    from .entries import RegistryContext

VERSION = "aof-snapshot/v1"
# Project fields that run commands or copy files on the daemon's host.
HOST_FIELDS = ("setup", "credential_files")


def export(fleet: RegistryContext) -> dict[str, Any]:
    files = []
    for noun in NOUNS.values():
        directory = fleet.root / noun.dir
        if not directory.is_dir():
            continue
        for name in sorted(os.listdir(directory)):
            path = directory / name
            if name.endswith(".md") and not name.startswith(".") and not path.is_symlink():
                files.append(
                    {"path": f"{noun.dir}/{name}", "text": path.read_text(encoding="utf-8")}
                )
    return {
        "version": VERSION,
        "exported_at": format_time(fleet.clock.now()),
        "fleet": fleet.config.name,
        "files": files,
    }


def _plan(fleet: RegistryContext, snap: Any, where: str) -> list[tuple[Path, str, str, str]]:
    """Validate the whole snapshot; (path, text, noun, slug) per file, or ValidationError."""
    if not isinstance(snap, dict) or snap.get("version") != VERSION:
        raise ValidationError(
            f"{where}: version: must be {VERSION!r} (got "
            f"{snap.get('version') if isinstance(snap, dict) else snap!r})"
        )
    files = snap.get("files")
    if not isinstance(files, list):
        raise ValidationError(f"{where}: files: must be a list of {{path, text}}")
    by_dir = {n.dir: n for n in NOUNS.values()}
    plan = []
    present: dict[str, set[str]] = {n: fleet.registry.slugs(n) for n in NOUNS}
    for i, item in enumerate(files):
        at = f"{where}: files[{i}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("path"), str)
            or not isinstance(item.get("text"), str)
        ):
            raise ValidationError(f"{at}: must be an object with path and text")
        parts = item["path"].split("/")
        if (
            len(parts) != 2
            or parts[0] not in by_dir
            or not parts[1].endswith(".md")
            or not SLUG_RE.match(parts[1][:-3])
        ):
            raise ValidationError(f"{at}: path: {item['path']!r} is not <kind-dir>/<slug>.md")
        noun, slug = by_dir[parts[0]], parts[1][:-3]
        card = cardfile.parse(item["text"], f"{at} ({item['path']})")
        validate(noun, card.meta, f"{at} ({item['path']})", card.line_of)
        if card.meta.get("slug") != slug:
            raise ValidationError(
                f"{at}: slug: {card.meta.get('slug')!r} does not match {item['path']}"
            )
        plan.append((fleet.root / item["path"], item["text"], noun.name, slug))
        present[noun.name].add(slug)
    for path, text, kind, _slug in plan:
        meta = cardfile.parse(text).meta
        for field, ref_kind, target in references(NOUNS[kind], meta):
            if target not in present[ref_kind]:
                raise ValidationError(
                    f"{where}: {path.relative_to(fleet.root)}: {field}: no {ref_kind} "
                    f"{target!r} in the snapshot or the fleet root"
                )
    return plan


def _changes(
    fleet: RegistryContext, plan: list[tuple[Path, str, str, str]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path, text, kind, _slug in plan:
        if kind != "project":
            continue
        new = cardfile.to_plain(cardfile.parse(text).meta)
        try:
            old = cardfile.to_plain(cardfile.read(path).meta) if path.is_file() else {}
        except (OSError, ValidationError):
            old = {}
        for field in HOST_FIELDS:
            if new.get(field) and new.get(field) != old.get(field):
                rel = path.relative_to(fleet.root).as_posix()
                out.append({"path": rel, "field": field, "old": old.get(field), "new": new[field]})
    return out


def host_changes(
    fleet: RegistryContext, snap: Any, where: str = "snapshot"
) -> list[dict[str, Any]]:
    """The new or changed ``setup`` and ``credential_files`` values the snapshot would
    write (``{path, field, old, new}`` each); ValidationError if it is broken."""
    return _changes(fleet, _plan(fleet, snap, where))


def describe(change: dict[str, Any]) -> str:
    """One change of :func:`host_changes` as a line a person can check."""
    was = "" if change["old"] is None else f" (was {json.dumps(change['old'])})"
    return f"{change['path']}: {change['field']}: {json.dumps(change['new'])}{was}"


def import_(
    fleet: RegistryContext, snap: Any, where: str = "snapshot", *, allow_host_changes: bool = False
) -> list[str]:
    """Import ``snap`` all-or-nothing in one commit; return the paths written.

    ValidationError, and nothing written, if it adds or changes a project's setup commands
    or credential files and ``allow_host_changes`` is false."""
    plan = _plan(fleet, snap, where)
    changes = _changes(fleet, plan)
    if changes and not allow_host_changes:
        raise ValidationError(
            f"{where}: sets what the daemon runs or copies on this host ("
            + "; ".join(describe(c) for c in changes)
            + "): check it, then import with --yes"
        )
    written: list[tuple[Path, str | None]] = []
    with fleet.registry.lock:
        try:
            for path, text, _, _ in plan:
                old = path.read_text(encoding="utf-8") if path.exists() else None
                if old == text:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if old is None:
                    cardfile.write_new(path, text)
                else:
                    cardfile.replace(path, text)
                written.append((path, old))
        except BaseException:
            for path, old in reversed(written):  # put back what was there: nothing half-done
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    cardfile.replace(path, old)
            raise
        if written:
            records = [
                (kind, slug, "imported")
                for path, _, kind, slug in plan
                if any(p == path for p, _ in written)
            ]
            audit_paths = []
            for kind, slug, action in records:
                _, ap = fleet.audit.append(fleet.actor, action, (kind, slug), reason=where)
                audit_paths.append(ap)
            fleet.git.commit(
                [*(p for p, _ in written), *audit_paths],
                f"snapshot: imported {len(written)} registry file(s) ({fleet.actor})",
                fleet.actor,
            )
    return [p.relative_to(fleet.root).as_posix() for p, _ in written]


MAX_SNAPSHOT_BYTES = 64 << 20  # many cards of at most 1 MiB each; a bigger file is refused


def load(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SNAPSHOT_BYTES + 1)
        if len(raw) > MAX_SNAPSHOT_BYTES:
            raise ValidationError(
                f"{path}: more than the {MAX_SNAPSHOT_BYTES} bytes a snapshot may be"
            )
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValidationError(f"{path}: not JSON aof reads: nested too deep") from None
    except ValueError as exc:
        raise ValidationError(f"{path}: not JSON: {exc}") from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
