"""What the knowledge index keeps of one file, and its rows in the index's tables.

A card is parsed and checked like any knowledge read (fields, key against the file name, the
fleet's kinds); a broken one is kept as its error only, so ``aof knowledge problems`` can name
it. Only the first :data:`MAX_BODY` characters of a body are indexed (a hit on a longer one
says so).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import AofError, ValidationError
from ..files import cardfile
from ..registry.spec import validate
from .spec import TYPE_OF_DIR, TYPES, check_kind

MAX_BODY = 32 * 1024  # characters of a body that are indexed (and searched, and snippeted)

Stamp = tuple[int, int, int]


def digest(body: str) -> str:
    """What "the same text" means for de-duplication: whitespace and case do not count."""
    return hashlib.sha256(" ".join(body.lower().split()).encode("utf-8")).hexdigest()


def parse(root: Path, kinds: dict[str, tuple[str, ...]], rel: str, stamp: Stamp) -> dict[str, Any]:
    """What the index keeps of one file; a broken file is kept as its error only."""
    dir_, name = rel.rsplit("/", 1)
    type_ = TYPE_OF_DIR[dir_]
    noun = TYPES[type_]
    item: dict[str, Any] = {"path": rel, "stamp": stamp, "type": type_}
    path = root / rel
    try:
        if path.is_symlink():
            raise ValidationError(f"{rel}:1: (file): is a symlink; aof does not follow links")
        card = cardfile.read(path)
        meta = card.meta
        validate(noun, meta, rel, card.line_of)
        key = name[: -len(".md")]
        if meta.get(noun.key) != key:
            raise ValidationError(
                f"{rel}:{card.line_of(noun.key)}: {noun.key}: {meta.get(noun.key)!r} does "
                f"not match the file name {key!r}"
            )
        check_kind(kinds, type_, meta.get("kind"), rel, card.line_of("kind"))
    except (AofError, OSError) as exc:
        item["error"] = str(exc).replace(str(root) + "/", "")
        return item
    tags = [str(t) for t in meta.get("tags") or []]
    body = card.body
    if len(body) > MAX_BODY:
        item["clipped"] = len(body)
        body = body[:MAX_BODY]
    if type_ == "document":
        title, summary = meta["title"], meta.get("summary") or ""
    elif type_ == "fact":
        title, summary = meta["statement"], ""
    else:
        title, summary = meta["label"], meta.get("uri") or ""
    item.update(
        key=key,
        kind=meta["kind"],
        scope=meta.get("scope", "company"),
        scope_ref=meta.get("scope_ref"),
        sort=str(meta.get("updated") or meta.get("created") or ""),
        digest=digest(card.body),
        vhash=hashlib.sha256("\n\n".join((title, summary, card.body)).encode("utf-8")).hexdigest(),
        confidence=meta.get("confidence"),
        meta=json.dumps(cardfile.to_plain(meta), ensure_ascii=False, default=str),
        tags=sorted({t.casefold() for t in tags}),
        fts=(title, summary, body, " ".join(tags)),
    )
    return item


def delete(conn: sqlite3.Connection, rel: str) -> None:
    row = conn.execute("SELECT id FROM items WHERE path=?", (rel,)).fetchone()
    if row is None:
        return
    conn.execute("DELETE FROM fts WHERE rowid=?", row)
    conn.execute("DELETE FROM tags WHERE item=?", row)
    conn.execute("DELETE FROM items WHERE id=?", row)


def insert(conn: sqlite3.Connection, item: dict[str, Any]) -> None:
    ino, size, mtime = item["stamp"]
    cur = conn.execute(
        "INSERT INTO items(path, ino, size, mtime_ns, type, key, kind, scope, scope_ref,"
        " sort, digest, vhash, confidence, meta, error, clipped)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            item["path"], ino, size, mtime, item["type"], item.get("key"), item.get("kind"),
            item.get("scope"), item.get("scope_ref"), item.get("sort"), item.get("digest"),
            item.get("vhash"), item.get("confidence"), item.get("meta"), item.get("error"),
            item.get("clipped"),
        ),
    )  # fmt: skip
    if "error" in item:
        return
    rowid = cur.lastrowid
    conn.execute(
        "INSERT INTO fts(rowid, title, summary, body, tags) VALUES (?,?,?,?,?)",
        (rowid, *item["fts"]),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO tags(tag, item) VALUES (?, ?)",
        [(t, rowid) for t in item["tags"]],
    )
