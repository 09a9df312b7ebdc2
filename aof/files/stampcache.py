"""What was parsed from files, kept under ``.aof/cache/`` and keyed on each file's stamp.

Listing a directory of cards costs a stat per file; parsing one costs far more. A
:class:`StampCache` keeps, in one file ``{"v": version, "entries": {key: [inode, size,
mtime_ns, value]}}``, the value parsed from each file with the stamp the file had, so a
listing (:class:`Listing`) stats every file, parses only those whose stamp changed since the
last one, and keeps the rest.

The file is in Python's ``marshal`` format, not JSON: a directory of 5,000 open tasks has a
3 MB cache, which ``marshal`` reads in half the time of ``json`` and writes in a
fifteenth (measured: 26 against 64 ms, 5 against 84 ms), and a cache is rewritten whenever a
file it covers changed. It holds plain data only (str, int, None, lists, dicts) and names the
marshal format it was written in; a file of another format, or one that does not load, is
rebuilt like any stale cache. It is machine-local derived data, never shared through git.

A stamp is trusted only when the file had settled: last changed :data:`RACY_NS` or more
before it was read, by the file system's clock (:func:`aof.files.fsclock.fs_now`, not this
process's wall clock). A change within the same timestamp tick would leave the stamp as it
was: the "racily clean" rule git applies to its index. A value parsed from a file that has
not settled is returned but not kept, so listings parse it again until it has.

Like every cache (:mod:`aof.files.cache`) this is derived data: missing, corrupt or of
another version, it is rebuilt. In memory it is kept while its own file's stamp stays the
same, so a long-lived process pays for the JSON only when another process rewrote it.
"""

from __future__ import annotations

import marshal
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import layout

# A stamp is trusted once its file was last changed this long ago (see the module docstring).
RACY_NS = 2_000_000_000

T = TypeVar("T")
Stamp = tuple[int, int, int]


def stamp_of(st: os.stat_result) -> list[int]:
    """A file's stamp: ``[inode, size, mtime_ns]``."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def fs_now_ns(root: Path) -> int:
    """The file system's clock under ``root`` in nanoseconds (the wall clock if it cannot be
    read, e.g. on a read-only root)."""
    from .fsclock import fs_now

    try:
        return int(fs_now(root) * 1_000_000_000)
    except OSError:
        return time.time_ns()


def settled(mtime_ns: int, now_ns: int) -> bool:
    """Whether a file (or directory) last changed at ``mtime_ns`` can be trusted by its stamp
    at ``now_ns``: it changed :data:`RACY_NS` or more before."""
    return mtime_ns < now_ns - RACY_NS


class StampCache:
    """The cache file ``.aof/cache/<name>`` of one fleet root, at format ``version``.

    With ``memo`` the loaded entries are kept in memory (and handed out as they are) while
    the cache file's stamp does not change; without it every load reads the file again.
    """

    def __init__(self, root: Path, name: str, version: int, *, memo: bool = True) -> None:
        self.root = root
        self.path = layout.cache(root, name)
        self.version = version
        self.memo = memo
        self._memo: tuple[Stamp, dict[str, list[Any]]] | None = None

    def _stamp(self) -> Stamp | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self) -> dict[str, list[Any]]:
        """The cached entries by key (empty when the file is missing, corrupt or outdated)."""
        stamp = self._stamp() if self.memo else None
        if stamp is not None and self._memo is not None and self._memo[0] == stamp:
            return self._memo[1]
        data = _read(self.path)
        if not isinstance(data, dict) or data.get("v") != self.version:
            return {}
        if data.get("marshal") != marshal.version:
            return {}
        entries = data.get("entries")
        entries = entries if isinstance(entries, dict) else {}
        if stamp is not None:
            self._memo = (stamp, entries)
        return entries

    def save(self, entries: dict[str, list[Any]]) -> None:
        _write(self.path, {"v": self.version, "marshal": marshal.version, "entries": entries})
        if self.memo:
            stamp = self._stamp()
            self._memo = (stamp, entries) if stamp is not None else None

    def listing(self) -> Listing:
        """Start a pass over the files (see :class:`Listing`)."""
        return Listing(self, self.load())


def _read(path: Path) -> Any:
    """What :func:`_write` wrote at ``path``, or None when it is missing or does not load."""
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _write(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` (best effort: a cache that cannot be written only costs
    speed)."""
    from .atomic import write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, marshal.dumps(data))
        path.with_suffix(".json").unlink(missing_ok=True)  # the JSON an older aof kept
    except (OSError, ValueError):
        pass


class Listing:
    """One pass over the files a cache covers: :meth:`get` each, then :meth:`finish`."""

    def __init__(self, cache: StampCache, entries: dict[str, list[Any]]) -> None:
        self.cache = cache
        self.old = entries
        self.fresh: dict[str, list[Any]] = {}
        self._now: int | None = None

    def get(self, key: str, st: os.stat_result, parse: Callable[[], T | None]) -> T | None:
        """The value of the file ``key`` whose stat is ``st``: the cached one if its stamp is
        unchanged, else ``parse()`` (None: the file is gone; nothing is kept)."""
        stamp = stamp_of(st)
        hit = self.old.get(key)
        if hit is not None and hit[:3] == stamp:
            value: T = hit[3]
        else:
            if self._now is None:
                self._now = fs_now_ns(self.cache.root)
            parsed = parse()
            if parsed is None:
                return None
            value = parsed
            if not settled(st.st_mtime_ns, self._now):
                # Too fresh to trust its stamp: parsed again next time. What was cached stays
                # as it was (its stamp no longer matches), so the cache is written once, when
                # the file has settled.
                if hit is not None:
                    self.fresh[key] = hit
                return value
        self.fresh[key] = [*stamp, value]
        return value

    def finish(self, covers: Callable[[str], bool] | None = None) -> None:
        """Save the pass when it differs from what was cached. ``covers`` says which keys this
        pass listed (default: all); entries of the others are kept as they were."""
        if covers is None:
            listed, kept = self.old, {}
        else:
            listed = {k: v for k, v in self.old.items() if covers(k)}
            kept = {k: v for k, v in self.old.items() if not covers(k)}
        if self.fresh != listed:
            self.cache.save({**kept, **self.fresh})
