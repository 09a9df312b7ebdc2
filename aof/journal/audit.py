"""The audit trail: one JSON line per mutation in ``audit/YYYY/MM/DD.jsonl`` (UTC days).

Appends take ``.aof/locks/audit.lock``, write the whole line with one ``write(2)`` on an
``O_APPEND`` descriptor and fsync it. Every record carries the writer's
``origin``, the id of its clone of the fleet root (:mod:`aof.journal.origin`), and ``seq``
numbers the records of one origin in one day file from 1, read back from the origin's last
record in the file under the lock, so it survives restarts and is the same for every process
of the clone. Appends never go through a link (:func:`_open_day_file`). The committer
stages audit files under the same lock, so a commit never holds a half-written line.
``.gitattributes`` marks the files ``merge=union``: clones merge cleanly, each one's records
kept in its own order, and ``(origin, day, seq)`` names one record however the lines of two
clones interleave. Readers order a day's records by ``(ts, origin, seq)`` (:func:`order`);
records written before origins existed have none and sort first among equal times.

Every record can say why. A verb computes a default ``reason`` for its record (a completion's
summary line, a question, an error); a caller's own reason, set on the log for the span of
one call (:attr:`AuditLog.reason`, set through ``Fleet(reason=...)`` or ``with
fleet.reason(...)``), wins over it and goes into every record appended meanwhile.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from .. import layout
from ..clock import Clock, format_time
from ..errors import ValidationError
from ..files.durability import sync
from ..files.locks import Lock, lock_for
from ..files.safefs import check_no_link

ACTOR_KINDS = ("human", "agent", "scheduler", "system")
ACTOR_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}\Z")
REASON_MAX = 1000  # characters: a reason is a sentence or two; details belong in a body


def check_reason(text: str | None) -> str | None:
    """A caller's reason, trimmed (None when absent or blank); ValidationError if too long."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(f"reason: must be text, got {type(text).__name__}")
    text = text.strip()
    if len(text) > REASON_MAX:
        raise ValidationError(
            f"reason: {len(text)} characters, at most {REASON_MAX} "
            "(write the details into the task or document body)"
        )
    return text or None


class Actor(NamedTuple):
    """Who did it: ``human:alice``, ``agent:coder-1``, ``scheduler:daemon``, ``system:aof``."""

    kind: str
    id: str

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, sep, ident = text.partition(":")
        if not sep:
            kind, ident = "human", text
        if kind not in ACTOR_KINDS or not ACTOR_RE.match(ident):
            raise ValidationError(
                f"actor {text!r}: must be KIND:NAME with KIND one of {', '.join(ACTOR_KINDS)} "
                "and NAME letters, digits, '.', '_', '@', '+', '-'"
            )
        return cls(kind, ident)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}


def _open_day_file(path: Path) -> int:
    """Open a day file for appending, never through a link (the file or a directory on the
    way): a link there would append the record to, and commit, whatever it points to."""
    check_no_link(path.parent)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValidationError(
                f"{path}: is a symlink; aof does not write through links (remove the link)"
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValidationError(f"{path}: is not a regular file; aof does not write to it")
    return fd


class AuditLog:
    """Append and read the audit trail of one fleet root."""

    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.dir = root / "audit"
        self.clock = clock
        self.lock: Lock = lock_for(layout.lock(root, "audit.lock"))
        # The caller's reason: when set, the ``reason`` of every record appended, in place
        # of the one the verb computed. One value per log object, not per thread: a log
        # shared by threads is used under a lock (the MCP server holds one per call).
        self.reason: str | None = None
        self._origin: str | None = None

    @property
    def origin(self) -> str:
        """This clone's origin id (made on first use: :mod:`aof.journal.origin`)."""
        if self._origin is None:
            from .origin import origin_of

            self._origin = origin_of(self.root) or ""
        return self._origin

    def path_for(self, when: datetime) -> Path:
        return self.dir / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}.jsonl"

    def append(
        self,
        actor: Actor,
        action: str,
        entity: tuple[str, str],
        *,
        frm: str | None = None,
        to: str | None = None,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
        commit: str | None = None,
        event: str | None = None,
    ) -> tuple[dict[str, Any], Path]:
        """Append one record and return it with the file it went to. ``event``: the
        notification event the change raises, when its verb names one (``review_waiting``,
        ``rejected_cap`` ...; see docs/notifications.md)."""
        now = self.clock.now()
        path = self.path_for(now)
        record: dict[str, Any] = {
            "ts": format_time(now),
            "origin": self.origin,
            "seq": 0,
            "actor": actor.to_json(),
            "action": action,
            "entity": {"kind": entity[0], "id": entity[1]},
        }
        for key, value in (
            ("from", frm),
            ("to", to),
            ("reason", self.reason or reason),
            ("changes", changes),
            ("commit", commit),
            ("event", event),
        ):
            if value:
                record[key] = value
        with self.lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_day_file(path)
            try:
                last, torn = _tail(fd, record["origin"])
                record["seq"] = last + 1
                line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
                # A torn last line (a writer killed mid-write): start ours on a fresh line.
                os.write(fd, (("\n" if torn else "") + line).encode("utf-8"))
                sync(path, fd)  # deferred to the end of a daemon tick (aof.files.durability)
            finally:
                os.close(fd)
        return record, path

    def files(self) -> list[Path]:
        """Every day file ``audit/YYYY/MM/DD.jsonl``, oldest first."""
        return list(reversed(list(self.newest_first())))

    def newest_first(self) -> Iterator[Path]:
        """The day files, newest first, each year's and month's directory listed only when
        it is reached: the tail of a trail of years reads its last days, not every name."""
        for year in _numbered(self.dir, 4):
            for month in _numbered(year, 2):
                yield from _numbered(month, 2, ".jsonl")

    def query(
        self,
        *,
        task: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
        text: str | None = None,
        limit: int = 0,
    ) -> list[dict[str, Any]]:
        """Records matching every filter given, oldest first; then the most recent ``limit``
        (0: all). ``task`` is an id prefix, ``actor`` ``KIND:NAME`` or ``NAME``, ``since`` and
        ``until`` ISO times in aof's form, ``text`` a case-insensitive substring of the JSON."""
        out = []
        needle = text.lower() if text else None
        for rec in self.records():
            entity = rec.get("entity") or {}
            if task and not str(entity.get("id", "")).startswith(task):
                continue
            who = rec.get("actor") or {}
            if actor and actor not in (f"{who.get('kind')}:{who.get('id')}", who.get("id")):
                continue
            if action and rec.get("action") != action:
                continue
            ts = str(rec.get("ts", ""))
            if (since and ts < since) or (until and ts > until):
                continue
            if needle and needle not in json.dumps(rec, ensure_ascii=False).lower():
                continue
            out.append(rec)
        return out[-limit:] if limit else out

    def records(self, problems: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first (each day in ``(ts, origin, seq)`` order);
        unreadable lines go to ``problems``."""
        for path in self.files():
            yield from order(self.day_records(path, problems))

    def day_records(self, path: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
        """The readable records of one day file, in file order (after a merge: each clone's
        records in its own order, the clones' interleaved)."""
        rel = path.relative_to(self.root).as_posix()
        out = []
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    if problems is not None:
                        problems.append(f"{rel}:{n}: not a JSON record (torn or hand-edited)")
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
                elif problems is not None:
                    problems.append(f"{rel}:{n}: a record must be a JSON object")
        return out


def order_key(rec: dict[str, Any]) -> tuple[str, str, int]:
    """A record's place in the trail: (ts, origin, seq); no origin sorts first."""
    seq = rec.get("seq")
    return (
        str(rec.get("ts", "")),
        str(rec.get("origin") or ""),
        seq if isinstance(seq, int) and not isinstance(seq, bool) else 0,
    )


def order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` of one day sorted by :func:`order_key` (stable: a file already in order,
    the usual case, costs one pass)."""
    return sorted(records, key=order_key)


def tail(log: AuditLog, n: int) -> list[dict[str, Any]]:
    """The last ``n`` readable records, oldest first, reading day files from the newest back
    (the cost follows ``n``, not the size of the trail)."""
    out: list[dict[str, Any]] = []
    if n <= 0:
        return out
    for path in log.newest_first():
        day = []
        with open(path, "rb") as fh:
            lines = fh.read().splitlines()
        for raw in lines:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict):
                day.append(rec)
        out = order(day)[-(n - len(out)) :] + out
        if len(out) >= n:
            return out
    return out


def _numbered(directory: Path, digits: int, suffix: str = "") -> list[Path]:
    """The entries of ``directory`` named by ``digits`` ASCII digits and ``suffix``, highest
    first ([] when it is not a directory)."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    width = digits + len(suffix)
    picked = [
        n
        for n in names
        if len(n) == width and n.endswith(suffix) and n[:digits].isascii() and n[:digits].isdigit()
    ]
    return [directory / n for n in sorted(picked, reverse=True)]


def _tail(fd: int, origin: str) -> tuple[int, bool]:
    """(seq of the last record of ``origin`` in an open day file, or of a record without
    origin; whether the file ends without a newline). Records of other clones (merged in)
    are skipped, reading back from the end: the clone's own are usually the last ones."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, False
    torn = os.pread(fd, 1, size - 1) != b"\n"
    end = size
    carry = b""
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start) + carry
        lines = chunk.split(b"\n")
        carry = lines.pop(0) if start > 0 else b""  # a line cut at the chunk's start
        for raw in reversed(lines):
            seq = _own_seq(raw, origin)
            if seq is not None:
                return seq, torn
        end = start
    seq = _own_seq(carry, origin)
    return (seq or 0), torn


def _own_seq(raw: bytes, origin: str) -> int | None:
    """The seq of one line when it is a record of ``origin`` (or has no origin), else None."""
    if not raw.strip():
        return None
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("seq"), int):
        return None
    if rec.get("origin") not in (None, "", origin):
        return None
    return int(rec["seq"])
