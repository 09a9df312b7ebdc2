"""Registry snapshots: export every registry file, import them all or none.

A snapshot is JSON ``{"version": "aof-snapshot/v1", "exported_at", "fleet", "files": [{"path",
"text"}]}`` holding each registry card's exact text, so importing into an empty fleet root
reproduces the files byte for byte. Import parses and validates every card, and every
reference (against the snapshot plus what the root already has), before it writes anything;
then it writes all files and makes one commit. A broken snapshot changes nothing. Entries the
root has and the snapshot lacks are kept (import never deletes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cardfile
from .clock import format_time
from .errors import ValidationError
from .registry import NOUNS
from .registry.spec import SLUG_RE, references, validate

if TYPE_CHECKING:
    from .fleet import Fleet

VERSION = "aof-snapshot/v1"


def export(fleet: Fleet) -> dict[str, Any]:
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


def _plan(fleet: Fleet, snap: Any, where: str) -> list[tuple[Path, str, str, str]]:
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


def import_(fleet: Fleet, snap: Any, where: str = "snapshot") -> list[str]:
    """Import ``snap`` all-or-nothing in one commit; return the paths written."""
    plan = _plan(fleet, snap, where)
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
