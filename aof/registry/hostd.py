"""A small client for the hostd API that ao-fleet's hosts run (``GET /host``, ``GET /projects``).

Responses are an envelope ``{"ok": bool, "data": ..., "error": {"message": ...}}``. Only the
standard library is used (urllib): syncing a host is rare, and a CLI call must stay light.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..errors import RemoteError


class Hostd:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        url = base_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise RemoteError(f"{base_url}: a hostd base URL starts with http:// or https://")
        self.base_url = url
        self.token = token
        self.timeout = timeout

    def get(self, path: str) -> Any:
        url = self.base_url + path
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            raise RemoteError(f"{url}: HTTP {exc.code}: {_message(body)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"{url}: cannot reach hostd ({reason})") from None
        try:
            envelope = json.loads(body)
        except ValueError:
            raise RemoteError(f"{url}: the answer is not JSON") from None
        if not isinstance(envelope, dict) or not envelope.get("ok"):
            raise RemoteError(f"{url}: hostd reported an error: {_message(body)}")
        return envelope.get("data")

    def host(self) -> dict[str, Any]:
        data = self.get("/host")
        if not isinstance(data, dict) or not data.get("slug"):
            raise RemoteError(f"{self.base_url}/host: no host profile in the answer")
        return data

    def projects(self) -> list[dict[str, Any]]:
        data = self.get("/projects")
        if not isinstance(data, list):
            raise RemoteError(f"{self.base_url}/projects: expected a list of projects")
        return [p for p in data if isinstance(p, dict)]


def _message(body: bytes) -> str:
    try:
        err = json.loads(body).get("error") or {}
        return str(err.get("message") or "unknown error")
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace") or "empty answer"
