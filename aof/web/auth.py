"""Who may use the dashboard, and how a request proves it.

- **Tokens.** Each server has one or more secret tokens (``--token``, ``$AOF_SERVE_TOKEN``,
  a token file, or one generated at start), each standing for an actor (``human:alice``).
  An API client sends ``Authorization: Bearer <token>``.
- **Scoped tokens.** A run or worker token of the remote API (``.aof/api-tokens.json``,
  looked up through ``scoped``) stands for its agent or worker and reaches only its own
  task, run or host (:mod:`aof.web.scopes`); it never opens a session.
- **Sessions.** A browser signs in once (``/signin?token=...`` or the sign-in form) and gets
  an HttpOnly, SameSite=Strict session cookie; the session lives in the server's memory (a
  restart signs everyone out) and ends after :attr:`Sessions.max_age_s`.
- **Cross-site requests.** A state-changing request (anything but GET and HEAD) that rides
  on the cookie must come from the dashboard's own origin (``Origin``, else ``Referer``,
  names the host the request was sent to, or an origin given with ``--allow-origin``) and
  carry the session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf``).
  Bearer requests carry no ambient credential, so they need neither.
- **Metrics.** ``/metrics`` is open to loopback clients, else it needs the metrics token
  (``--metrics-token``) or any of the above.

Standard library only; the middleware speaks plain ASGI so that server-sent events stream
through it untouched.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

COOKIE = "aof_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Session:
    id: str
    actor: str
    csrf: str
    created: float = field(default=0.0)


class Sessions:
    """The server's tokens and the browser sessions opened with them."""

    def __init__(
        self,
        tokens: Mapping[str, str],
        *,
        metrics_token: str | None = None,
        allowed_origins: Iterable[str] = (),
        max_age_s: float = 7 * 86400,
        max_sessions: int = 1000,
        now: Callable[[], float] = time.monotonic,
        scoped: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.tokens = dict(tokens)
        self.scoped = scoped
        self.metrics_token = metrics_token
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.max_age_s, self.max_sessions, self.now = max_age_s, max_sessions, now
        self._open: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def actor_for(self, secret: str | None) -> str | None:
        """The actor a token stands for (compared in constant time), or None."""
        if not secret:
            return None
        found = None
        for known, actor in self.tokens.items():
            if same_secret(known, secret):
                found = actor
        return found

    def scope_for(self, secret: str | None) -> dict[str, Any] | None:
        """The scope of a run or worker token of the remote API (kind, actor, task, run,
        host), or None; these tokens never open a session."""
        if not secret or self.scoped is None:
            return None
        return self.scoped(secret)

    def open(self, actor: str) -> Session:
        """A new session for ``actor`` (the oldest is dropped past :attr:`max_sessions`)."""
        session = Session(secrets.token_urlsafe(32), actor, secrets.token_urlsafe(24), self.now())
        with self._lock:
            self._open[session.id] = session
            while len(self._open) > self.max_sessions:
                self._open.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._open.get(session_id)
            if session is not None and self.now() - session.created > self.max_age_s:
                del self._open[session_id]
                return None
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)

    def same_origin(self, headers: Mapping[str, str], scheme: str) -> bool:
        """Whether a state-changing request comes from the dashboard's own origin."""
        source = headers.get("origin") or headers.get("referer") or ""
        if not source or source == "null":
            return False
        parts = urlsplit(source)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin in self.allowed_origins:
            return True
        host = (headers.get("x-forwarded-host") or headers.get("host") or "").lower()
        proto = (headers.get("x-forwarded-proto") or scheme).lower()
        return bool(host) and origin == f"{proto}://{host}"


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, secret = (headers.get("authorization") or "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


def cookie(headers: Mapping[str, str], name: str = COOKIE) -> str | None:
    for part in (headers.get("cookie") or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def set_cookie_header(session: Session | None, *, secure: bool, max_age_s: float) -> str:
    """The ``Set-Cookie`` value that opens ``session`` (None: that ends it)."""
    flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
    if session is None:
        return f"{COOKIE}=; Max-Age=0{flags}"
    return f"{COOKIE}={session.id}; Max-Age={int(max_age_s)}{flags}"


def is_loopback(client: tuple[str, int] | None) -> bool:
    return client is not None and client[0] in LOOPBACK
