"""Deleting a registry entry with ``--cascade``: what cannot exist without it goes too.

An entry whose *required* reference names the deleted one (a team's projects and schedules)
is deleted, depth first; an *optional* reference to it is cleared. The caller holds the
registry lock and makes the one commit of everything collected here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import cardfile
from . import NOUNS
from .spec import Noun, ordered
from .writing import Record

if TYPE_CHECKING:
    from .entries import Entry, Registry


def refers(value: Any, slug: str) -> bool:
    """Whether a reference field's ``value`` (one slug or a list of them) names ``slug``."""
    return value == slug or (isinstance(value, list) and slug in value)


def remove_dependents(
    reg: Registry,
    noun: Noun,
    slug: str,
    records: list[Record],
    paths: list[Path],
    done: list[str],
) -> None:
    """Delete or clear everything that refers to ``noun``/``slug`` (not the entry itself)."""
    for other in NOUNS.values():
        for f in other.fields:
            if f.ref != noun.name:
                continue
            for row in reg.rows(other.name):
                value = row.get(f.name)
                if not refers(value, slug):
                    continue
                dep = reg.get(other.name, str(row["slug"]))
                if f.required:
                    remove_dependents(reg, other, dep.slug, records, paths, done)
                    dep.path.unlink()
                    paths.append(dep.path)
                    records.append((other.name, dep.slug, "deleted", None))
                    done.append(f"deleted {other.name} {dep.slug}")
                else:
                    meta = cardfile.copy_plain(dep.meta)
                    if isinstance(value, list):
                        meta[f.name] = [v for v in value if v != slug] or None
                    else:
                        meta[f.name] = None
                    meta = {k: v for k, v in meta.items() if v is not None}
                    paths.append(write_unchecked(dep, meta))
                    records.append((other.name, dep.slug, "updated", {f.name: None}))
                    done.append(f"cleared {other.name} {dep.slug} {f.name}")


def write_unchecked(entry: Entry, meta: dict[str, Any]) -> Path:
    """Write without the reference check (used mid-cascade, when it is being removed)."""
    text = cardfile.render(entry.card, ordered(entry.noun, meta))
    cardfile.replace(entry.path, text, expect=entry.card.stamp)
    return entry.path
