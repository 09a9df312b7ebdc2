"""The knowledge search index: SQLite FTS5 in ``.aof/cache/knowledge.db``, derived from files.

The files under ``knowledge/`` are the truth; the index is a cache of them that any call
may throw away. Before every read it is brought up to date from file stamps (inode, size,
mtime): one directory walk finds new, changed, renamed and deleted files, only those are
re-parsed, and the update is one transaction. A missing, corrupt or older-format index is
rebuilt from the files, so deleting it is always safe (``aof knowledge reindex`` does).

Search runs in SQL so every filter (type, scope, scope ref, kinds, tags) applies before
the limit; tags are compared case-insensitively and AND-ed; text matches are ranked by
BM25 with the title weighted above the summary, the summary above tags and tags above the
body, and come back with a highlighted snippet.

Search cannot stall the process that runs it: only the first ``MAX_BODY`` characters of a
body are indexed (a hit on a longer one says so), the query itself is bounded
(aof.knowledge.query), and a search that runs longer than ``SEARCH_BUDGET_S`` is stopped by
SQLite's progress handler and refused with one error. Setting :data:`STOP` stops every
search in the process at once (a server shutting down sets it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import AofError, ValidationError
from ..files import cardfile
from ..registry.spec import validate
from .query import to_fts
from .spec import TYPE_OF_DIR, TYPES, check_kind

VERSION = 2  # bump when the tables or what goes into them change: old indexes are rebuilt
WEIGHTS = (10.0, 5.0, 1.0, 3.0)  # title, summary, body, tags
DB = Path(".aof") / "cache" / "knowledge.db"
# Errors after which the index is thrown away and rebuilt once (an I/O error included: a
# truncated file reads short; if the disk itself fails, the rebuild fails and says so).
CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")
MAX_BODY = 32 * 1024  # characters of a body that are indexed (and searched, and snippeted)
SEARCH_BUDGET_S = 2.0  # wall time a search may take before it is stopped
STOP = threading.Event()  # set: every running search stops now

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items(
  id INTEGER PRIMARY KEY,
  path TEXT UNIQUE NOT NULL,
  ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  type TEXT NOT NULL, key TEXT, kind TEXT, scope TEXT, scope_ref TEXT,
  sort TEXT, digest TEXT, vhash TEXT, confidence INTEGER, meta TEXT, error TEXT,
  clipped INTEGER
);
CREATE INDEX items_filter ON items(type, scope, scope_ref, kind);
CREATE INDEX items_sort ON items(sort);
CREATE TABLE tags(tag TEXT NOT NULL, item INTEGER NOT NULL, PRIMARY KEY(tag, item)) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(title, summary, body, tags, tokenize='porter unicode61');
"""

Stamp = tuple[int, int, int]
T = TypeVar("T")


def digest(body: str) -> str:
    """What "the same text" means for de-duplication: whitespace and case do not count."""
    return hashlib.sha256(" ".join(body.lower().split()).encode("utf-8")).hexdigest()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return name.startswith(CORRUPT) or "malformed" in text or "not a database" in text


class Index:
    """One fleet root's knowledge index. Not thread-safe: callers share one under a lock."""

    def __init__(
        self,
        root: Path,
        kinds: dict[str, tuple[str, ...]],
        *,
        budget_s: float = SEARCH_BUDGET_S,
    ) -> None:
        self.root = root
        self.budget_s = budget_s
        self.path = root / DB
        self.kinds = kinds
        self._conn: sqlite3.Connection | None = None
        self._ino = 0
        self._known: tuple[tuple[sqlite3.Connection, int], dict[str, Stamp]] | None = None
        self.rebuilt = ""  # why the last call rebuilt the index ("" when it did not)

    # --- the database file -----------------------------------------------------------------

    def _lock(self) -> Any:
        from ..files.locks import lock_for

        return lock_for(self.root / ".aof" / "locks" / "knowledge-index.lock")

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _state(self, conn: sqlite3.Connection, fingerprint: str) -> str:
        """ "ok", "empty", or why the index must be thrown away."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            return "empty"
        if version != VERSION:
            return f"the index had format {version}, this aof writes {VERSION}"
        row = conn.execute("SELECT value FROM meta WHERE key='kinds'").fetchone()
        return "ok" if row and row[0] == fingerprint else "the fleet's knowledge kinds changed"

    def _open(self) -> sqlite3.Connection:
        """A connection to a current-format index (created, or replaced, as needed)."""
        fingerprint = json.dumps(self.kinds, sort_keys=True)
        conn = self._connect()
        try:
            state = self._state(conn, fingerprint)
            if state != "ok":
                with self._lock():  # re-checked under the lock: another process may be here
                    state = self._state(conn, fingerprint)
                    if state not in ("ok", "empty"):
                        conn.close()
                        self._unlink()
                        self.rebuilt = state
                        conn = self._connect()
                        state = self._state(conn, fingerprint)
                    if state == "empty":
                        self.rebuilt = self.rebuilt or "there was no index"
                        conn.executescript(
                            "BEGIN;"
                            + SCHEMA
                            + "INSERT INTO meta(key, value) VALUES('kinds', "
                            + _literal(fingerprint)
                            + f"); PRAGMA user_version={VERSION}; COMMIT;"
                        )
            self._ino = os.stat(self.path).st_ino
        except BaseException:
            conn.close()
            raise
        return conn

    def _unlink(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _discard(self, why: str) -> None:
        """Delete the index files; the next call makes a new one from the files."""
        self.close()
        with self._lock():
            self._unlink()
        self.rebuilt = why

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _current(self) -> sqlite3.Connection:
        """The open connection, reopened when another process replaced the index file."""
        if self._conn is not None:
            try:
                replaced = os.stat(self.path).st_ino != self._ino
            except FileNotFoundError:
                replaced = True
            if replaced:
                self.close()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _run(self, read: Callable[[sqlite3.Connection], T], *, fresh: bool = True) -> T:
        """``read`` on a connection current with the files; a corrupt index (found while
        opening, updating or reading it) is thrown away and rebuilt, once."""
        for attempt in (1, 2):
            try:
                conn = self._current()
                if fresh:
                    self._refresh(conn)
                return read(conn)
            except sqlite3.DatabaseError as exc:
                if attempt == 2 or not _is_corrupt(exc):
                    raise
                self._discard(f"the index was corrupt ({exc})")
        raise AssertionError("unreachable")

    # --- keeping it current ------------------------------------------------------------------

    def scan(self) -> dict[str, Stamp]:
        """Every knowledge file's relative path and stamp (one directory walk, no reads)."""
        out: dict[str, Stamp] = {}
        for noun in TYPES.values():
            try:
                entries = os.scandir(self.root / noun.dir)
            except FileNotFoundError:
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    if not name.endswith(".md") or name.startswith("."):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    out[f"{noun.dir}/{name}"] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return out

    def _refresh(self, conn: sqlite3.Connection) -> dict[str, int]:
        disk = self.scan()
        # What the index holds, remembered between calls while no other connection has
        # written to it (PRAGMA data_version changes when one has).
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if self._known is not None and self._known[0] == (conn, version):
            known = self._known[1]
        else:
            known = {
                row[0]: (row[1], row[2], row[3])
                for row in conn.execute("SELECT path, ino, size, mtime_ns FROM items")
            }
        self._known = None
        changed = [p for p, st in disk.items() if known.get(p) != st]
        gone = [p for p in known if p not in disk]
        if not changed and not gone:
            self._known = ((conn, version), known)
            return {"indexed": 0, "removed": 0}
        parsed = [self._parse(rel, disk[rel]) for rel in sorted(changed)]
        with self._lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                for rel in [*gone, *changed]:
                    self._delete(conn, rel)
                for item in parsed:
                    self._insert(conn, item)
                # read while holding the write lock: nobody else can commit in between
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        for rel in gone:
            known.pop(rel, None)
        known.update((rel, disk[rel]) for rel in changed)
        self._known = ((conn, version), known)
        return {"indexed": len(changed), "removed": len(gone)}

    def _parse(self, rel: str, stamp: Stamp) -> dict[str, Any]:
        """What the index keeps of one file; a broken file is kept as its error only."""
        dir_, name = rel.rsplit("/", 1)
        type_ = TYPE_OF_DIR[dir_]
        noun = TYPES[type_]
        item: dict[str, Any] = {"path": rel, "stamp": stamp, "type": type_}
        path = self.root / rel
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
            check_kind(self.kinds, type_, meta.get("kind"), rel, card.line_of("kind"))
        except (AofError, OSError) as exc:
            item["error"] = str(exc).replace(str(self.root) + "/", "")
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
            vhash=hashlib.sha256(
                "\n\n".join((title, summary, card.body)).encode("utf-8")
            ).hexdigest(),
            confidence=meta.get("confidence"),
            meta=json.dumps(cardfile.to_plain(meta), ensure_ascii=False, default=str),
            tags=sorted({t.casefold() for t in tags}),
            fts=(title, summary, body, " ".join(tags)),
        )
        return item

    @staticmethod
    def _delete(conn: sqlite3.Connection, rel: str) -> None:
        row = conn.execute("SELECT id FROM items WHERE path=?", (rel,)).fetchone()
        if row is None:
            return
        conn.execute("DELETE FROM fts WHERE rowid=?", row)
        conn.execute("DELETE FROM tags WHERE item=?", row)
        conn.execute("DELETE FROM items WHERE id=?", row)

    @staticmethod
    def _insert(conn: sqlite3.Connection, item: dict[str, Any]) -> None:
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

    def refresh(self) -> dict[str, Any]:
        """Bring the index up to date now; what was re-indexed and removed."""
        self.rebuilt = ""
        counts = self._run(self._refresh, fresh=False)
        return {**counts, "rebuilt": self.rebuilt or None}

    def rebuild(self) -> dict[str, Any]:
        """Throw the index away and index every file again."""
        self._discard("asked to (aof knowledge reindex)")
        why = self.rebuilt
        result = self.refresh()
        return {**result, "rebuilt": why}

    # --- reading -----------------------------------------------------------------------------

    def problems(self, *, fresh: bool = True) -> list[str]:
        """The files that could not be indexed, ``file:line: field: message`` each
        (``fresh=False``: as of the last update, e.g. right after a search)."""
        sql = "SELECT error FROM items WHERE error IS NOT NULL ORDER BY path"
        return self._run(lambda c: [r[0] for r in c.execute(sql)], fresh=fresh)

    # Every read below brings the index up to date first; ``fresh=False`` skips that for a
    # read that follows another within one operation (the walk is most of a search's cost).

    def digests(self, type_: str, *, fresh: bool = True) -> dict[str, str]:
        """digest -> key of every readable item of ``type_`` (for de-duplication)."""
        sql = "SELECT digest, key FROM items WHERE type=? AND error IS NULL"
        return self._run(lambda c: dict(c.execute(sql, (type_,)).fetchall()), fresh=fresh)

    def metas(self, type_: str, *, fresh: bool = True) -> Iterator[dict[str, Any]]:
        sql = "SELECT meta FROM items WHERE type=? AND error IS NULL ORDER BY key"
        rows = self._run(lambda c: c.execute(sql, (type_,)).fetchall(), fresh=fresh)
        for (meta,) in rows:
            yield json.loads(meta)

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
        keys: Iterable[int] | None = None,
        fresh: bool = True,
    ) -> dict[str, Any]:
        """Matches of ``text`` (or everything, newest first) passing every filter, then
        ``limit`` of them; ``total`` counts all that passed."""
        match = to_fts(text) if text else None
        where, args = _where(types, scope, scope_ref, kinds, tags, min_confidence, keys)
        cond = " AND ".join(where)
        cap = "" if limit is None else f" LIMIT {int(limit)}"

        def read(conn: sqlite3.Connection) -> tuple[int, list[Any]]:
            if match is None:
                base = f"FROM items i WHERE {cond}"
                rows = conn.execute(
                    f"SELECT i.id, i.path, i.meta, NULL, NULL, i.clipped {base} "
                    f"ORDER BY i.sort DESC, i.key{cap}",
                    args,
                ).fetchall()
                total = len(rows)
                if limit is not None and total == limit:
                    total = conn.execute(f"SELECT count(*) {base}", args).fetchone()[0]
                return total, rows
            rank = f"bm25(fts, {', '.join(map(str, WEIGHTS))})"
            base = f"FROM fts JOIN items i ON i.id = fts.rowid WHERE fts MATCH ? AND {cond}"
            try:
                # Rank every match, keep the best; only those get a snippet (SQLite would
                # otherwise build one for every match before sorting).
                best = conn.execute(
                    f"SELECT i.id, i.path, i.meta, -{rank}, NULL, i.clipped {base} "
                    f"ORDER BY 4 DESC{cap}",
                    [match, *args],
                ).fetchall()
                total = len(best)
                if limit is not None and total == limit:
                    total = conn.execute(f"SELECT count(*) {base}", [match, *args]).fetchone()[0]
                return total, self._snippets(conn, match, best)
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc) and STOP.is_set():
                    raise ValidationError("text: the search was stopped: aof is stopping") from None
                if "interrupted" in str(exc):
                    raise ValidationError(
                        f"text: the search took more than the {self.budget_s:g} s a search "
                        "may take and was stopped; search for fewer or rarer words"
                    ) from None
                if "fts5" not in str(exc) and "syntax" not in str(exc):
                    raise
                raise ValidationError(f"text: cannot search for {text!r}: {exc}") from None

        total, rows = self._run(lambda conn: self._bounded(conn, read), fresh=fresh)
        hits = [
            {
                "rowid": r[0], "path": r[1], "meta": json.loads(r[2]), "score": r[3],
                "snippet": r[4], "clipped": r[5],
            }
            for r in rows
        ]  # fmt: skip
        return {"total": total, "hits": hits, "query": match}

    @staticmethod
    def _snippets(conn: sqlite3.Connection, match: str, rows: list[Any]) -> list[Any]:
        """``rows`` with a snippet each, while the time budget lasts (the rest go without).

        Cut in Python from ``highlight()``, whose cost grows with the length of the text
        only: SQLite's own ``snippet()`` grows with the square of the matches and could not
        be interrupted (one call over a dense body took minutes)."""
        columns = ", ".join(f"highlight(fts, {c}, '{_OPEN}', '{_CLOSE}')" for c in range(4))
        out: list[Any] = []
        for i, row in enumerate(rows):
            try:
                marked = conn.execute(
                    f"SELECT {columns} FROM fts WHERE fts MATCH ? AND fts.rowid = ?",
                    (match, row[0]),
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "interrupted" not in str(exc) or STOP.is_set():
                    raise
                return out + rows[i:]
            out.append((*row[:4], _snippet(marked or ()), *row[5:]))
        return out

    def _bounded(self, conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], T]) -> T:
        """``read`` stopped by SQLite ("interrupted") once it has run ``budget_s`` seconds
        or :data:`STOP` is set."""
        deadline = time.monotonic() + self.budget_s

        def over() -> int:
            return 1 if STOP.is_set() or time.monotonic() > deadline else 0

        conn.set_progress_handler(over, 100)
        try:
            return read(conn)
        finally:
            conn.set_progress_handler(None, 0)

    def candidates(
        self,
        *,
        types: Sequence[str] = (),
        scope: str | None = None,
        scope_ref: str | None = None,
        kinds: Sequence[str] = (),
        tags: Sequence[str] = (),
        min_confidence: int | None = None,
        fresh: bool = True,
    ) -> list[tuple[int, str]]:
        """(rowid, hash of the indexed text) of every item passing the filters."""
        where, args = _where(types, scope, scope_ref, kinds, tags, min_confidence, None)
        sql = f"SELECT i.id, i.vhash FROM items i WHERE {' AND '.join(where)}"
        return self._run(lambda c: c.execute(sql, args).fetchall(), fresh=fresh)

    def texts(self, rowids: Sequence[int], *, fresh: bool = True) -> dict[int, str]:
        """The indexed text (title, summary, body) of each row, for embedding."""
        if not rowids:
            return {}

        def read(conn: sqlite3.Connection) -> dict[int, str]:
            out: dict[int, str] = {}
            for start in range(0, len(rowids), 500):
                chunk = list(rowids[start : start + 500])
                out.update(
                    (r[0], "\n\n".join(x for x in r[1:] if x))
                    for r in conn.execute(
                        "SELECT rowid, title, summary, body FROM fts "
                        f"WHERE rowid IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            return out

        return self._run(read, fresh=fresh)


_OPEN, _CLOSE = "\x02", "\x03"  # highlight marks (control characters a card cannot hold)
SNIPPET_WORDS = 16


def _snippet(columns: Sequence[str | None]) -> str | None:
    """About ``SNIPPET_WORDS`` words around the first match of the column with the most
    matches (title first on a tie), matches in ``**``, ``…`` where the text goes on."""
    best = max(columns, key=lambda text: (text or "").count(_OPEN), default=None)
    if not best or _OPEN not in best:
        return None
    at = best.index(_OPEN)
    before = best[:at].split()
    after = best[at:].split()
    lead = max(0, min(len(before), SNIPPET_WORDS // 4))
    words = before[len(before) - lead :] + after[: SNIPPET_WORDS - lead]
    text = " ".join(words)
    opened = text.count(_OPEN) - text.count(_CLOSE)
    text = text + _CLOSE * opened
    text = text.replace(_OPEN, "**").replace(_CLOSE, "**")
    head = "…" if len(before) > lead else ""
    tail = "…" if len(after) > SNIPPET_WORDS - lead else ""
    return head + text + tail


def _where(
    types: Sequence[str],
    scope: str | None,
    scope_ref: str | None,
    kinds: Sequence[str],
    tags: Sequence[str],
    min_confidence: int | None,
    keys: Iterable[int] | None,
) -> tuple[list[str], list[Any]]:
    """SQL conditions (on ``items i``) and their arguments for the filters."""
    where, args = ["i.error IS NULL"], list[Any]()
    if types:
        where.append(f"i.type IN ({','.join('?' * len(types))})")
        args.extend(types)
    if scope:
        where.append("i.scope = ?")
        args.append(scope)
    if scope_ref:
        where.append("i.scope_ref = ?")
        args.append(scope_ref)
    if kinds:
        where.append(f"i.kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    for tag in sorted({t.casefold() for t in tags}):
        where.append("i.id IN (SELECT item FROM tags WHERE tag = ?)")
        args.append(tag)
    if min_confidence is not None:
        where.append("i.confidence >= ?")
        args.append(min_confidence)
    if keys is not None:
        ids = list(keys)
        where.append(f"i.id IN ({','.join('?' * len(ids))})" if ids else "0")
        args.extend(ids)
    return where, args
