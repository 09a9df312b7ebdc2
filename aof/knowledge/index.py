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

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .. import layout
from ..errors import ValidationError
from ..files.locks import lock_for
from .indexed import MAX_BODY, Stamp, delete, digest, insert, parse
from .query import CLOSE, OPEN, snippet, to_fts, where_of
from .spec import TYPES

VERSION = 2  # bump when the tables or what goes into them change: old indexes are rebuilt
WEIGHTS = (10.0, 5.0, 1.0, 3.0)  # title, summary, body, tags
# Errors after which the index is thrown away and rebuilt once (an I/O error included: a
# truncated file reads short; if the disk itself fails, the rebuild fails and says so).
CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")
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

T = TypeVar("T")
__all__ = ["MAX_BODY", "SEARCH_BUDGET_S", "STOP", "VERSION", "Index", "digest"]


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
        self.path = layout.cache(root, "knowledge.db")
        self.kinds = kinds
        self._conn: sqlite3.Connection | None = None
        self._ino = 0
        self._known: tuple[tuple[sqlite3.Connection, int], dict[str, Stamp]] | None = None
        self.rebuilt = ""  # why the last call rebuilt the index ("" when it did not)

    # --- the database file -----------------------------------------------------------------

    def _lock(self) -> Any:
        return lock_for(layout.lock(self.root, "knowledge-index.lock"))

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Under the index's lock: processes racing to open a new index would each switch it
        # to WAL, and SQLite answers such a race "database is locked" at once, without
        # waiting out its busy timeout.
        with self._lock():
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
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
        parsed = [parse(self.root, self.kinds, rel, disk[rel]) for rel in sorted(changed)]
        with self._lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                for rel in [*gone, *changed]:
                    delete(conn, rel)
                for item in parsed:
                    insert(conn, item)
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
        where, args = where_of(types, scope, scope_ref, kinds, tags, min_confidence, keys)
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
        columns = ", ".join(f"highlight(fts, {c}, '{OPEN}', '{CLOSE}')" for c in range(4))
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
            out.append((*row[:4], snippet(marked or ()), *row[5:]))
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
        where, args = where_of(types, scope, scope_ref, kinds, tags, min_confidence, None)
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
