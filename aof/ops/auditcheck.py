"""The audit trail's own invariant for ``aof doctor``: no ``(origin, day, seq)`` twice.

Each clone numbers its records per day file (:mod:`aof.journal.audit`); after git merges
the day files of several clones, ``(origin, day, seq)`` still names exactly one record. A
repeat means two writers shared an origin (a root copied with its ``.aof/``, or records
merged by hand) and a reader can no longer tell the records' order: it is reported, never
fixed (the trail is append-only). Records written before origins existed have none; their
repeats (clones merged before aof stamped origins) are a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..journal.audit import AuditLog


def repeats(log: AuditLog) -> Iterator[tuple[str, str, int, int, bool]]:
    """(day file, origin, seq, times, legacy) of every ``(origin, day, seq)`` seen more than
    once; ``legacy``: records without an origin."""
    for path in log.files():
        rel = path.relative_to(log.root).as_posix()
        counts: dict[tuple[str, int], int] = {}
        for rec in log.day_records(path):
            seq = rec.get("seq")
            if isinstance(seq, int):
                key = (str(rec.get("origin") or ""), seq)
                counts[key] = counts.get(key, 0) + 1
        for (origin, seq), n in sorted(counts.items()):
            if n > 1:
                yield rel, origin, seq, n, not origin
