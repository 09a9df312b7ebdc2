"""Knowledge mutations and reads, through the same pipeline as the registry.

Every change builds the whole card, validates it (fields, scope and scope ref, the fleet's
kinds, that the team, project or source it names exists) before anything is written, writes
it atomically, appends one audit record and makes one commit. Reads go through the search
index (:mod:`aof.knowledge.index`), which follows the files.

Knowledge takes a typed view of its fleet (:class:`KnowledgeContext`: the registry's view
plus a task by id), never the service layer above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NotFound, ValidationError
from ..files import cardfile
from ..registry.entries import RegistryContext
from ..registry.spec import SLUG_RE, Noun, ordered, validate
from ..registry.writing import changes_between, commit_records, new_meta, store
from .spec import TYPE_OF_DIR, TYPES, check_kind, kinds_of

if TYPE_CHECKING:
    from ..model.task import Task
    from .index import Index

# Fields only aof writes: who made it and when, and where a promoted document came from.
PROTECTED = frozenset({"schema", "slug", "id", "created", "created_by", "provenance"})


class Item:
    """One knowledge card as read from disk."""

    __slots__ = ("card", "key", "path", "type")

    def __init__(self, type_: str, key: str, path: Path, card: cardfile.Card) -> None:
        self.type, self.key, self.path, self.card = type_, key, path, card

    @property
    def meta(self) -> dict[str, Any]:
        return self.card.meta

    @property
    def noun(self) -> Noun:
        return TYPES[self.type]


class KnowledgeContext(RegistryContext, Protocol):
    """What knowledge sees of a fleet: its registry and stores, and a task by id."""

    def get_task(self, ref: str) -> Task: ...


class Knowledge:
    """Sources, documents and facts of one fleet root (``fleet.knowledge``)."""

    def __init__(self, fleet: KnowledgeContext) -> None:
        self.fleet = fleet
        self.root = fleet.root
        self.kinds = kinds_of(fleet.config.data)
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        if self._index is None:
            from .index import Index

            self._index = Index(self.root, self.kinds)
        return self._index

    @property
    def semantic_default(self) -> bool:
        """Whether search ranks by meaning too unless told (``knowledge.semantic.enabled``)."""
        from .semantic import settings

        return bool(settings(self.fleet.config.data)["enabled"])

    # --- reading ------------------------------------------------------------------------

    @staticmethod
    def noun(type_: str) -> Noun:
        try:
            return TYPES[type_]
        except KeyError:
            raise ValidationError(
                f"type: unknown knowledge type {type_!r} (types: {', '.join(TYPES)})"
            ) from None

    def path(self, type_: str, key: str) -> Path:
        noun = self.noun(type_)
        if not isinstance(key, str) or not SLUG_RE.match(key):
            raise ValidationError(
                f"{type_} {noun.key} {key!r}: lower-case letters, digits and '-' only "
                "(no '/', '..' or spaces)"
            )
        return self.root / noun.dir / f"{key}.md"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def get(self, type_: str, key: str) -> Item:
        """The card ``type_``/``key``; NotFound if there is none, ValidationError if broken."""
        path = self.path(type_, key)
        try:
            card = cardfile.read_in_root(path, self.rel(path))
        except FileNotFoundError:
            raise NotFound(f"no {type_} {key!r} ({self.rel(path)})") from None
        item = Item(type_, key, path, card)
        self._check(item.noun, type_, card.meta, self.rel(path), card.line_of)
        if card.meta.get(item.noun.key) != key:
            raise ValidationError(
                f"{self.rel(path)}:{card.line_of(item.noun.key)}: {item.noun.key}: "
                f"{card.meta.get(item.noun.key)!r} does not match the file name {key!r}"
            )
        return item

    def item_json(self, item: Item, *, body: bool = True) -> dict[str, Any]:
        out = {"type": item.type, **cardfile.to_plain(item.meta), "path": self.rel(item.path)}
        if body:
            out["body"] = item.card.body
        return out

    def list(
        self,
        type_: str,
        *,
        scope: str | None = None,
        scope_ref: str | None = None,
        kinds: Sequence[str] = (),
        tags: Sequence[str] = (),
        min_confidence: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Every ``type_`` card passing the filters, newest first (see :meth:`search`)."""
        self.noun(type_)
        return self.search(
            types=[type_],
            scope=scope,
            scope_ref=scope_ref,
            kinds=kinds,
            tags=tags,
            min_confidence=min_confidence,
            limit=limit,
        )

    def search(
        self,
        *,
        text: str | None = None,
        types: Sequence[str] = (),
        scope: str | None = None,
        scope_ref: str | None = None,
        kinds: Sequence[str] = (),
        tags: Sequence[str] = (),
        min_confidence: int | None = None,
        limit: int | None = 20,
        semantic: bool | None = None,
    ) -> dict[str, Any]:
        """Ranked matches of ``text`` (everything, newest first, without it) that pass every
        filter; the filters apply before ``limit``, and ``total`` counts every match.

        ``semantic`` adds similarity by local embeddings (``aof[semantic]``) to the score
        (None: as ``knowledge.semantic.enabled`` in aof.yaml says).
        """
        if semantic is None:
            semantic = self.semantic_default
        for t in types:
            self.noun(t)
        if scope is not None:
            from .spec import _scope

            problem = _scope(scope)
            if problem:
                raise ValidationError(f"scope: {problem} (got {scope!r})")
        if limit is not None and limit < 1:
            raise ValidationError(f"limit: must be 1 or more (got {limit})")
        filters: dict[str, Any] = {
            "types": types,
            "scope": scope,
            "scope_ref": scope_ref,
            "kinds": kinds,
            "tags": tags,
            "min_confidence": min_confidence,
        }
        if semantic:
            from .semantic import hybrid

            found = hybrid(self, text, filters, limit)
        else:
            found = self.index.search(text=text, limit=limit, **filters)
        return {
            "text": text,
            "query": found["query"],
            "total": found["total"],
            "results": [_row(hit) for hit in found["hits"]],
            "problems": self.index.problems(fresh=False),
            **({"semantic": found["semantic"]} if semantic else {}),
        }

    def reindex(self) -> dict[str, Any]:
        """Rebuild the search index from the files."""
        result = self.index.rebuild()
        return {**result, "problems": self.index.problems()}

    # --- writing ------------------------------------------------------------------------

    def _check(
        self, noun: Noun, type_: str, meta: dict[str, Any], where: str, line_of: Any
    ) -> None:
        validate(noun, meta, where, line_of)
        check_kind(self.kinds, type_, meta.get("kind"), where, line_of("kind"))

    def check_refs(self, meta: dict[str, Any], rel: str, line_of: Any = None) -> None:
        """ValidationError unless the team, project or source ``meta`` names exists."""

        def where(key: str) -> str:
            return f"{rel}:{line_of(key)}" if line_of else rel

        scope, ref = meta.get("scope"), meta.get("scope_ref")
        if scope in ("team", "project") and not self.fleet.registry.exists(scope, str(ref)):
            raise ValidationError(
                f"{where('scope_ref')}: scope_ref: no {scope} {ref!r} (see `aof {scope} list`)"
            )
        source = meta.get("source")
        if source is not None and not self.path("source", source).is_file():
            raise ValidationError(
                f"{where('source')}: source: no knowledge source {source!r} "
                "(add it with `aof knowledge source upsert`)"
            )

    def _write(
        self,
        type_: str,
        key: str,
        meta: dict[str, Any],
        item: Item | None,
        body: str | None,
        action: str,
    ) -> Item:
        noun = self.noun(type_)
        meta = ordered(noun, meta)
        path = self.path(type_, key)
        rel = self.rel(path)
        self._check(noun, type_, meta, rel, item.card.line_of if item else (lambda k: 1))
        self.check_refs(meta, rel)
        store(path, rel, noun, meta, item.card if item else None, body)
        old = item.meta if item else {}
        commit_records(
            self.fleet,
            [(noun.name, key, action, changes_between(old, meta))],
            [path],
            f"knowledge {type_} {key}: {action}",
        )
        return self.get(type_, key)

    def _stamp(self, meta: dict[str, Any], *, new: bool) -> None:
        from ..clock import format_time

        now = format_time(self.fleet.clock.now())
        if new:
            meta["created"] = now
            meta["created_by"] = str(self.fleet.actor)
        meta["updated"] = now

    def _new(self, type_: str, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        noun = self.noun(type_)
        extra = {k for k in fields if k in PROTECTED - {"provenance"}}
        if extra:
            raise ValidationError(f"{', '.join(sorted(extra))}: set by aof, not by hand")
        meta = new_meta(noun, key, fields)
        self._stamp(meta, new=True)
        return meta

    def upsert_source(self, slug: str, fields: dict[str, Any]) -> tuple[Item, str]:
        """Create source ``slug``, or update the fields given; (item, created|updated|unchanged)."""
        path = self.path("source", slug)
        if not path.exists():
            meta = self._new("source", slug, fields)
            return self._write("source", slug, meta, None, None, "created"), "created"
        item = self.get("source", slug)
        meta = cardfile.copy_plain(item.meta)
        meta.update((k, v) for k, v in fields.items() if v is not None)
        if meta == item.meta:
            return item, "unchanged"
        self._stamp(meta, new=False)
        return self._write("source", slug, meta, item, None, "updated"), "updated"

    def create_document(
        self, fields: dict[str, Any], *, slug: str | None = None, body: str = ""
    ) -> Item:
        """A new document; its slug comes from the title unless given (``-2``... on a clash)."""
        from ..model.task import slugify

        if slug is not None:
            meta = self._new("document", slug, fields)
            return self._write("document", slug, meta, None, _body(body), "created")
        base = slugify(str(fields.get("title") or ""), 60) or "document"
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base[:56]}-{n}"
            if self.path("document", candidate).exists():
                continue
            meta = self._new("document", candidate, fields)
            try:
                return self._write("document", candidate, meta, None, _body(body), "created")
            except ValidationError:
                if not self.path("document", candidate).exists():
                    raise
                # another process took this name between the check and the write: next one
        raise ValidationError(f"title: too many documents named {base!r}")

    def edit_document(
        self,
        slug: str,
        changes: dict[str, Any],
        *,
        body: str | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> Item:
        """Set fields (None removes one), replace the body, add or remove tags."""
        item = self.get("document", slug)
        protected = sorted(k for k in changes if k in PROTECTED)
        if protected:
            raise ValidationError(f"{', '.join(protected)}: set by aof, not by hand")
        meta = cardfile.copy_plain(item.meta)
        for key, value in changes.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        if add_tags or remove_tags:
            gone = {t.casefold() for t in remove_tags}
            tags = [t for t in meta.get("tags") or [] if str(t).casefold() not in gone]
            seen = {str(t).casefold() for t in tags}
            tags += [t for t in add_tags if t.casefold() not in seen]
            meta["tags"] = tags
            if not tags:
                meta.pop("tags")
        new_body = None if body is None else _body(body)
        if meta == item.meta and (new_body is None or new_body == item.card.body):
            return item
        self._stamp(meta, new=False)
        return self._write("document", slug, meta, item, new_body, "updated")

    def create_fact(self, fields: dict[str, Any], *, body: str = "") -> Item:
        """A new fact with a fresh id (``f-`` and six random characters)."""
        from ..clock import format_time

        for length in range(6, 16):
            fid = "f-" + self.fleet.ids.token(length)
            if not self.path("fact", fid).exists():
                break
        fields = dict(fields)
        if fields.get("observed_at") is None:
            fields["observed_at"] = format_time(self.fleet.clock.now())
        meta = self._new("fact", fid, fields)
        return self._write("fact", fid, meta, None, _body(body), "created")

    def promote(
        self, task_ref: str, *, attempt: int | None = None, kind: str = "learning"
    ) -> dict[str, Any]:
        """Turn a finished run's notes into a document; see :mod:`aof.knowledge.promote`."""
        from .promote import promote

        return promote(self, task_ref, attempt=attempt, kind=kind)


def _body(text: str) -> str:
    text = text.strip("\n")
    return text + "\n" if text else ""


def _row(hit: dict[str, Any]) -> dict[str, Any]:
    """A search or list row: the same keys for every type, plus the type's own."""
    meta, path = hit["meta"], hit["path"]
    type_ = TYPE_OF_DIR[path.rsplit("/", 1)[0]]
    noun = TYPES[type_]
    title = meta.get("title") or meta.get("statement") or meta.get("label")
    row: dict[str, Any] = {
        "type": type_,
        "id": meta.get(noun.key),
        "kind": meta.get("kind"),
        "scope": meta.get("scope", "company"),
        "scope_ref": meta.get("scope_ref"),
        "title": title,
        "summary": meta.get("summary"),
        "tags": meta.get("tags") or [],
        "updated": meta.get("updated") or meta.get("created"),
        "path": path,
        "score": None if hit["score"] is None else float(f"{hit['score']:.6g}"),
        "snippet": hit["snippet"],
    }
    if type_ == "fact":
        row["confidence"] = meta.get("confidence")
    if type_ == "source":
        row["uri"] = meta.get("uri")
        row["sync_state"] = meta.get("sync_state")
    if "similarity" in hit:
        row["similarity"] = round(hit["similarity"], 4)
    if meta.get("provenance"):
        row["provenance"] = meta["provenance"]
    if hit.get("clipped"):
        from .indexed import MAX_BODY

        row["note"] = (
            f"only the first {MAX_BODY:,} of the body's {hit['clipped']:,} characters are searched"
        )
    return row
