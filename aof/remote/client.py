"""``RemoteFleet``: the verbs of :class:`aof.Fleet` over ``aof serve``'s remote API.

Every method answers what the CLI's ``--json`` of the same verb prints (plain JSON, not
:class:`aof.Task`), and raises the :mod:`aof.errors` class the server's error names, so a
command gives the same output and exit code against a remote fleet as against a local
one: 401 is :class:`~aof.errors.Unauthorized`, 403 :class:`~aof.errors.Forbidden`, a
server that cannot be reached :class:`~aof.errors.RemoteError` naming its URL.

Retries: a connection that could not be made, and a 502, 503 or 504 (a proxy in front of
a restarting server), are tried again ``retries`` times with a doubling pause. A request
that was sent but got no answer is tried again only when repeating it changes nothing
(reads, heartbeats, status reports, log uploads at an offset); a claim or a completion is
not, and the error says the outcome is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import httpx

from .. import errors
from ..errors import AofError, Forbidden, NotFound, RemoteError, Unauthorized

RETRY_STATUS = (502, 503, 504)
CHUNK = 192 * 1024  # log bytes per request: under the server's 256 KiB body limit
JSON = dict[str, Any]


class RemoteFleet:
    """A fleet behind ``url`` (``http://coordinator:8780``), reached with ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise errors.ConfigError(f"AOF_API_URL: {url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.retries, self.backoff_s, self.sleep = retries, backoff_s, sleep
        self.reason: str | None = None  # the reason of the audit records of each call
        self.force = False  # a person's override of another's lease (needs a reason)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tasks ----------------------------------------------------------------------------

    def create_task(self, title: str, **fields: Any) -> JSON:
        """``aof task create``: ``priority``, ``team``, ``project``, ``depends_on``,
        ``labels``, ``parent``, ``body``, ``ready``, ``fields``, ``sla``."""
        return self._post("/api/tasks", {"title": title, **_given(fields)})

    def get_task(self, ref: str, *, card: bool = False) -> JSON:
        params = {"card": "1"} if card else None
        return self._call("GET", f"/api/tasks/{_seg(ref)}", params=params, idempotent=True)

    def list_tasks(
        self,
        *,
        states: Iterable[str] | None = None,
        team: str | None = None,
        project: str | None = None,
        priority: str | None = None,
        labels: Iterable[str] = (),
        holder: str | None = None,
        text: str | None = None,
    ) -> list[JSON]:
        params: list[tuple[str, str]] = [("state", s) for s in states or ()]
        params += [("label", x) for x in labels]
        for key, value in (("team", team), ("project", project), ("priority", priority)):
            if value:
                params.append((key, value))
        for key, value in (("holder", holder), ("text", text)):
            if value:
                params.append((key, value))
        rows: Any = self._call("GET", "/api/tasks", params=params, idempotent=True)
        return cast(list[JSON], rows)

    def claim(self, ref: str, agent: str, ttl_s: float | None = None) -> JSON:
        return self._verb(ref, "claim", {"agent": agent, "ttl_s": ttl_s})

    def heartbeat(self, ref: str, token: str) -> JSON:
        return self._verb(ref, "heartbeat", {"token": token}, idempotent=True)

    def progress(self, ref: str, note: str, token: str | None) -> JSON:
        return self._verb(ref, "progress", {"note": note, "token": token})

    def block(self, ref: str, question: str, token: str | None) -> JSON:
        return self._verb(ref, "block", {"question": question, "token": token})

    def complete(
        self, ref: str, summary: str, token: str | None, outputs: Iterable[str] = ()
    ) -> JSON:
        body = {"summary": summary, "token": token, "outputs": list(outputs)}
        return self._verb(ref, "complete", body)

    def fail(self, ref: str, error: str, token: str | None, permanent: bool = False) -> JSON:
        body = {"error": error, "token": token, "permanent": permanent}
        return self._verb(ref, "fail", body)

    def release(self, ref: str, token: str | None) -> JSON:
        return self._verb(ref, "release", {"token": token})

    def unblock(self, ref: str) -> JSON:
        return self._verb(ref, "unblock", {})

    def move(self, ref: str, state: str) -> JSON:
        return self._verb(ref, "move", {"state": state})

    def edit_task(self, ref: str, **changes: Any) -> JSON:
        """``aof task edit``: ``title``, ``priority``, ``set`` (fields), ``unset``,
        ``add_labels``, ``remove_labels``, ``add_deps``, ``remove_deps``, ``body``,
        ``token``, ``expect_rev``, ``sla``."""
        return self._verb(ref, "edit", _given(changes))

    def next_task(self, agent: str | None = None, *, claim: bool = False) -> JSON:
        return self._post("/api/next", {"agent": agent, "claim": claim})

    # --- a person's actions (the dashboard's) ---------------------------------------------

    def act(self, ref: str, action: str, **fields: str | None) -> JSON:
        """``answer`` (text), ``approve`` (note), ``reject`` (feedback), ``cancel`` (reason),
        ``resurrect``, ``ready`` (reason)."""
        body = {k: v for k, v in fields.items() if v is not None}
        if self.reason and "reason" not in body:
            body["reason"] = self.reason
        return self._call("POST", f"/api/tasks/{_seg(ref)}/{action}", json=body)

    # --- runs and hosts -------------------------------------------------------------------

    def upload_log(self, run_id: str, name: str, data: bytes, offset: int) -> int:
        """Send ``data``, which starts at byte ``offset`` of the run's log ``name``; the
        file's size on the coordinator afterwards."""
        size = offset
        for start in range(0, max(len(data), 1), CHUNK):
            part = data[start : start + CHUNK]
            answer = self._call(
                "POST",
                f"/api/runs/{_seg(run_id)}/log",
                params={"name": name, "offset": str(offset + start)},
                content=part,
                idempotent=True,
            )
            size = int(answer["size"])
        return size

    def run_status(self, run_id: str, **fields: Any) -> JSON:
        path = f"/api/runs/{_seg(run_id)}/status"
        return self._call("POST", path, json=fields, idempotent=True)

    def host_heartbeat(self, slug: str, **fields: Any) -> JSON:
        path = f"/api/hosts/{_seg(slug)}/heartbeat"
        return self._call("POST", path, json=fields, idempotent=True)

    # --- the wire -------------------------------------------------------------------------

    def _verb(self, ref: str, verb: str, body: JSON, *, idempotent: bool = False) -> JSON:
        return self._post(f"/api/tasks/{_seg(ref)}/{verb}", body, idempotent=idempotent)

    def _post(self, path: str, body: JSON, *, idempotent: bool = False) -> JSON:
        body = {k: v for k, v in body.items() if v is not None}
        if self.reason:
            body["reason"] = self.reason
        if self.force:
            body["force"] = True
        return self._call("POST", path, json=body, idempotent=idempotent)

    def _call(self, method: str, path: str, *, idempotent: bool = False, **kw: Any) -> JSON:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = self._http.request(method, path, **kw)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = f"cannot connect ({exc})"
                continue
            except httpx.TransportError as exc:
                if idempotent or method == "GET":
                    last = f"no answer ({type(exc).__name__}: {exc})"
                    continue
                raise RemoteError(
                    f"{self.url}: no answer to {method} {path} ({type(exc).__name__}); "
                    "whether it took effect is unknown: check with `aof task show`"
                ) from None
            if answer.status_code in RETRY_STATUS and attempt < self.retries:
                last = f"HTTP {answer.status_code}"
                continue
            return cast(JSON, self._answer(answer))
        tries = self.retries + 1
        raise RemoteError(f"{self.url}: the aof API cannot be reached ({last}; {tries} attempts)")

    def _answer(self, answer: httpx.Response) -> Any:
        if answer.is_success:
            return answer.json()
        try:
            data = answer.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        kind, message = str(data.get("error") or ""), str(data.get("message") or answer.text)
        raise _error(answer.status_code, kind, message, self.url)


def _error(status: int, kind: str, message: str, url: str) -> AofError:
    if status == 401:
        return Unauthorized(f"{url}: {message} (AOF_API_TOKEN)")
    if status == 403:
        return Forbidden(f"{url}: {message}")
    found = getattr(errors, kind, None)
    if isinstance(found, type) and issubclass(found, AofError):
        return found(message)
    if status == 404:
        return NotFound(f"{url}: {message}")
    if status in (400, 413, 422):
        return errors.ValidationError(message)
    if status == 409:
        return errors.InvalidTransition(message)
    return RemoteError(f"{url}: HTTP {status}: {message}")


def _given(fields: dict[str, Any]) -> JSON:
    return {k: v for k, v in fields.items() if v is not None and v != () and v != []}


def _seg(text: str) -> str:
    """One path segment: refuses what could escape it."""
    from urllib.parse import quote

    return quote(text, safe="")
