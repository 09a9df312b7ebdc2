"""Writing cards of the registry (and of knowledge, which shares the pipeline).

A new card never clobbers an existing file and a replaced one is refused if the file changed
since it was read (:func:`store`); each change then gets one audit record per entity and one
commit (:func:`commit_records`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..files import cardfile, yamlfast
from .spec import Noun

if TYPE_CHECKING:
    from ..store.context import FleetContext

Record = tuple[str, str, str, dict[str, Any] | None]  # (kind, key, action, changes)


def store(
    path: Path,
    rel: str,
    noun: Noun,
    meta: dict[str, Any],
    card: cardfile.Card | None,
    body: str | None = None,
) -> None:
    """Write a validated card: a new file that never clobbers one (ValidationError if it
    exists), or a replacement of ``card`` refused if the file changed since it was read."""
    if card is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "---\n" + _dump(meta) + "---\n" + (body if body is not None else "")
        try:
            cardfile.write_new(path, text)
        except FileExistsError:
            key = meta.get(noun.key)
            raise ValidationError(f"{rel}: a {noun.name} {key!r} already exists") from None
    else:
        cardfile.replace(path, cardfile.render(card, meta, body), expect=card.stamp)


def commit_records(
    fleet: FleetContext,
    records: list[Record],
    paths: list[Path],
    message: str,
    reason: str | None = None,
) -> None:
    """One audit record per entity changed, then one commit of ``paths`` and the audit."""
    actor = fleet.actor
    audit_paths = []
    for kind, key, action, changes in records:
        _, audit_path = fleet.audit.append(
            actor, action, (kind, key), reason=reason, changes=changes or None
        )
        audit_paths.append(audit_path)
    fleet.git.commit([*paths, *audit_paths], f"{message} ({actor})", actor)


def _dump(meta: dict[str, Any]) -> str:
    try:
        return yamlfast.dump(meta)
    except yamlfast.NotCanonical as exc:
        raise ValidationError(f"a value cannot be written: {exc}") from None


def new_meta(noun: Noun, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new card's frontmatter: schema, key, the noun's defaults, then ``fields`` (not None)."""
    meta: dict[str, Any] = {"schema": noun.schema, noun.key: slug}
    meta.update((f.name, f.default) for f in noun.fields if f.default is not None)
    meta.update((k, v) for k, v in fields.items() if v is not None)
    return meta


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        k: new.get(k)
        for k in set(old) | set(new)
        if old.get(k) != new.get(k) and k not in ("schema",)
    }


def unique_slug(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3`` ... whichever is not in ``taken`` (then taken)."""
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug
