"""The remote API's scoped tokens: ``.aof/api-tokens.json`` (docs/security.md, "Tokens").

A **run token** stands for the agent of one run (``agent:coder-1``) and opens only its own
task's lease verbs and its own run's uploads; a **worker token** stands for one host's
worker (``system:worker-<host>``) and opens that host's heartbeat and its runs' uploads.
(The serve tokens of ``aof serve`` are a person's and are not kept here.)

The file maps the sha256 hex digest of each secret to its scope::

    {"<sha256>": {"kind": "run", "actor": "agent:coder-1", "task": "t-3kf9a2",
                  "run": "t-3kf9a2.1", "host": null, "created": TS, "expires": TS|null}}

The secret itself is returned once by :meth:`TokenStore.mint` and stored nowhere. The file
is owner-only, replaced atomically under ``.aof/locks/api-tokens.lock``; readers take no
lock and keep the parsed file while its inode, size and mtime stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import layout
from ..clock import Clock, IdSource, SystemClock, SystemIds, format_time, parse_time
from ..errors import ValidationError
from ..files.atomic import write_text
from ..files.locks import lock_for
from ..files.privatefiles import private_dir

KINDS = ("run", "worker")
PREFIX = {"run": "aofr_", "worker": "aofw_"}
SECRET_CHARS = 40  # from a 32-letter alphabet: 200 bits
LOCK = "api-tokens.lock"
ACTOR = re.compile(r"^(agent|system|human):[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

_cache: dict[str, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}
_cache_guard = threading.Lock()


def digest(secret: str) -> str:
    """The sha256 hex digest a secret is kept under."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_scoped(secret: str) -> bool:
    """Whether ``secret`` has the form of a run or worker token."""
    return secret.startswith(tuple(PREFIX.values()))


class TokenStore:
    """The scoped tokens of one fleet root."""

    def __init__(
        self, root: Path, *, clock: Clock | None = None, ids: IdSource | None = None
    ) -> None:
        self.root = root
        self.path = layout.api_tokens(root)
        self.clock = clock or SystemClock()
        self.ids = ids or SystemIds()

    # --- reading --------------------------------------------------------------------------

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every token's scope by digest (a copy; the file's parse is cached)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return {}
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        key = str(self.path)
        with _cache_guard:
            cached = _cache.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _parse(self.path))
            with _cache_guard:
                _cache[key] = cached
        return {k: dict(v) for k, v in cached[1].items()}

    def scope(self, secret: str | None, now: datetime | None = None) -> dict[str, Any] | None:
        """The scope of ``secret``, or None: unknown, revoked or expired."""
        if not secret or not looks_scoped(secret):
            return None
        entry = self.entries().get(digest(secret))
        if entry is None or _expired(entry, now or self.clock.now()):
            return None
        return entry

    def runs_of_host(self, host: str) -> set[str]:
        """The run ids whose run tokens were minted for a run on ``host``."""
        return {
            str(e["run"])
            for e in self.entries().values()
            if e.get("kind") == "run" and e.get("host") == host and e.get("run")
        }

    # --- changing -------------------------------------------------------------------------

    def mint(
        self,
        kind: str,
        actor: str,
        *,
        task: str | None = None,
        run: str | None = None,
        host: str | None = None,
        ttl_s: float | None = None,
    ) -> str:
        """A new token of ``kind`` for ``actor``; the secret is returned here only."""
        _check(kind, actor, task, run, host)
        now = self.clock.now()
        secret = PREFIX[kind] + self.ids.token(SECRET_CHARS)
        entry = {
            "kind": kind,
            "actor": actor,
            "task": task,
            "run": run,
            "host": host,
            "created": format_time(now),
            "expires": format_time(now + timedelta(seconds=ttl_s)) if ttl_s else None,
        }

        def add(data: dict[str, dict[str, Any]]) -> None:
            for key in [k for k, e in data.items() if _expired(e, now)]:
                del data[key]
            data[digest(secret)] = entry

        self._change(add)
        return secret

    def revoke(
        self,
        *,
        secret: str | None = None,
        kind: str | None = None,
        task: str | None = None,
        run: str | None = None,
        host: str | None = None,
    ) -> int:
        """Remove the tokens that match every criterion given (``secret``: that one);
        returns how many. With no criterion, nothing is removed."""
        if secret is None and not (task or run or host):
            return 0
        wanted = {"kind": kind, "task": task, "run": run, "host": host}
        removed = 0

        def drop(data: dict[str, dict[str, Any]]) -> None:
            nonlocal removed
            for key, e in list(data.items()):
                if secret is not None and key != digest(secret):
                    continue
                if all(v is None or e.get(k) == v for k, v in wanted.items()):
                    del data[key]
                    removed += 1

        if self.path.exists():
            self._change(drop)
        return removed

    def _change(self, edit: Any) -> None:
        private_dir(layout.private(self.root))
        private_dir(layout.locks(self.root))
        with lock_for(layout.lock(self.root, LOCK)):
            data = _parse(self.path)
            before = json.dumps(data, sort_keys=True)
            edit(data)
            if json.dumps(data, sort_keys=True) != before:
                write_text(self.path, json.dumps(data, indent=1, sort_keys=True), private=True)


def _parse(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _expired(entry: dict[str, Any], now: datetime) -> bool:
    until = entry.get("expires")
    if not until:
        return False
    try:
        return parse_time(str(until)) <= now
    except ValueError:
        return True


def _check(kind: str, actor: str, task: str | None, run: str | None, host: str | None) -> None:
    where = "api token"
    if kind not in KINDS:
        raise ValidationError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not ACTOR.match(actor):
        raise ValidationError(f"{where}: actor {actor!r} is not KIND:NAME")
    if kind == "run" and not (task and run):
        raise ValidationError(f"{where}: a run token needs its task and run ({task!r}, {run!r})")
    if kind == "worker" and not host:
        raise ValidationError(f"{where}: a worker token needs its host")
