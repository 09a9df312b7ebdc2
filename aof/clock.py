"""Injected time and randomness.

Core code never calls ``time.time()`` or ``random`` directly: a :class:`Clock` gives the time
and an :class:`IdSource` gives random bits, so tests (and replayed scheduler ticks) pass fixed
ones and get the same result every time.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Crockford-style base32, lower case: no i, l, o, u (nothing to misread, nothing rude).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, always timezone-aware UTC, truncated to whole seconds for stable files."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime | str) -> None:
        self._now = parse_time(start) if isinstance(start, str) else start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        self._now = self._now + timedelta(seconds=seconds, **kw)
        return self._now

    def set(self, when: datetime | str) -> None:
        self._now = parse_time(when) if isinstance(when, str) else when


class IdSource(Protocol):
    def token(self, n: int) -> str:
        """Return ``n`` random characters from :data:`ALPHABET`."""
        ...

    def random(self) -> float:
        """Return a float in [0, 1), for jitter."""
        ...


class SystemIds:
    """Random ids from the OS entropy pool (safe across processes and hosts)."""

    def token(self, n: int) -> str:
        raw = os.urandom(n)
        return "".join(ALPHABET[b & 31] for b in raw)

    def random(self) -> float:
        return int.from_bytes(os.urandom(7), "big") / float(1 << 56)


class SeededIds:
    """Deterministic ids for tests and replays."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def token(self, n: int) -> str:
        return "".join(self._rng.choice(ALPHABET) for _ in range(n))

    def random(self) -> float:
        return self._rng.random()


def format_time(when: datetime) -> str:
    """Render an aware datetime as ISO 8601 UTC with a ``Z`` suffix (the only form aof writes)."""
    when = when.astimezone(UTC)
    text = when.replace(tzinfo=None).isoformat()
    return text + "Z"


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; a naive time is taken as UTC. Raise ValueError when malformed."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
