"""Talking to GitHub's REST API: conditional requests, the rate-limit budget, errors.

:class:`GitHubClient` is what :class:`aof.forge.github.GitHubForge` asks its questions with.
githubkit (sync client, typed models that parse every answer) is imported only when a
request is made: a CLI call that does not talk to GitHub never loads it.

- **Conditional requests.** Every GET is sent with the ``If-None-Match`` of the last answer to
  the same request; a 304 costs no rate limit and the answer kept from last time is used.
  ``budget`` counts requests and 304s.
- **Rate limits.** ``x-ratelimit-*`` of every answer is kept in ``budget``. A 403 or 429 with
  no requests left (or a ``retry-after``) raises :class:`RateLimited` with the reset time, and
  no request is sent before it (the clock is injected: ``now``).
- **Errors.** An unknown repository or one the token cannot see is a :class:`ForgeError`
  naming it; no answer (the network, a timeout, a 5xx) is :class:`ForgeDown`. The token is
  never in a message, a log or a command line.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..clock import format_time
from ..model.forges import DEFAULT_API_URL, is_repo
from .base import Budget, ForgeDown, ForgeError, RateLimited
from .ghaccess import resolve_token
from .ghdata import message_of

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

API_URL = DEFAULT_API_URL
PER_PAGE = 100
MAX_PAGES = 10  # of reviews, comments or check runs: 1,000 is more than any PR has
CACHE_ENTRIES = 4096  # remembered answers (ETag and parsed data), least recently used out

Call = Callable[["GitHub[Any]", dict[str, str]], Any]
Paged = Callable[["GitHub[Any]", dict[str, str], int], Any]
P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound="GitHubClient")


def in_session(method: Callable[Concatenate[C, P], R]) -> Callable[Concatenate[C, P], R]:
    """A method whose requests share one HTTP session (:meth:`GitHubClient.session`)."""

    @functools.wraps(method)
    def run(self: C, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.session():
            return method(self, *args, **kwargs)

    return run


def at(call: Paged, page: int) -> Call:
    """``call`` for one page."""
    return lambda gh, headers: call(gh, headers, page)


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(epoch, UTC))


def split(repo: str) -> tuple[str, str]:
    if not is_repo(repo):
        raise ForgeError(f"github: {repo!r} is not a repository name (owner/name)")
    owner, name = repo.split("/")
    return owner, name


class GitHubClient:
    """A GitHub REST client that keeps its ETags and its budget (see the module's doc)."""

    def __init__(
        self,
        api_url: str = API_URL,
        token: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.budget = Budget()
        self._token = token
        self._env = env
        self._now = now
        self._timeout = timeout
        self._gh: GitHub[Any] | None = None
        self._blocked_until: float | None = None
        # key -> (ETag, parsed answer, whether the answer's Link header names a next page)
        self._answers: OrderedDict[str, tuple[str, Any, bool]] = OrderedDict()
        self._has_next = False  # of the last answer _get returned
        self._lock = threading.Lock()  # over _answers and budget: a poller may use threads
        self._local = threading.local()  # per thread: its session, and its 304s (_fresh)

    @property
    def _fresh(self) -> list[bool]:
        """Per request since the current observation began: did it answer 304?"""
        fresh: list[bool] | None = getattr(self._local, "fresh", None)
        if fresh is None:
            fresh = self._local.fresh = []
        return fresh

    @contextmanager
    def session(self) -> Iterator[None]:
        """The requests inside share one HTTP connection pool (kept alive between them, where
        each would otherwise open its own connection); sessions nest."""
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        gh: Any = self._client()  # githubkit's context: one httpx.Client while inside
        gh.__enter__()
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            gh.__exit__(None, None, None)

    # --- sending --------------------------------------------------------------------------

    def _client(self) -> GitHub[Any]:
        if self._gh is None:
            from urllib.parse import urlsplit

            from githubkit import GitHub, TokenAuthStrategy

            token = self._token or resolve_token(self._env, urlsplit(self.api_url).hostname)
            self._gh = GitHub(
                TokenAuthStrategy(token),
                base_url=self.api_url,
                user_agent="aof",
                timeout=self._timeout,
                http_cache=False,  # aof keeps the ETags itself: it must see each 304
                auto_retry=False,  # a rate limit is waited out by the caller, never slept on
            )
        return self._gh

    def _send(
        self, repo: str, what: str, call: Callable[[GitHub[Any]], Any], item: str = ""
    ) -> Any:
        """One request: refused while the rate limit is spent; errors mapped (module doc)."""
        if self._blocked_until is not None:
            if self._now() < self._blocked_until:
                raise RateLimited(
                    f"github: rate limit spent; no request before {_when(self._blocked_until)}",
                    self._blocked_until,
                )
            self._blocked_until = None
        gh = self._client()
        from githubkit.exception import RequestError, RequestFailed

        with self._lock:
            self.budget.requests += 1
        try:
            resp = call(gh)
        except RequestFailed as exc:
            raw = exc.response.raw_response
            self._read_budget(raw)
            raise self._failure(repo, what, raw, item) from None
        except RequestError as exc:
            cause = type(getattr(exc, "exc", exc)).__name__
            raise ForgeDown(
                f"github: {what} in {repo}: no answer from {self.api_url} ({cause})"
            ) from None
        self._read_budget(resp.raw_response)
        if resp.status_code == 304:
            with self._lock:
                self.budget.not_modified += 1
        return resp

    def _read_budget(self, raw: httpx.Response) -> None:
        """``x-ratelimit-*`` of the answer (or of the redirect that led to it: a job log)."""
        for answer in (*raw.history, raw):
            h = answer.headers
            for attr, key in (
                ("limit", "x-ratelimit-limit"),
                ("remaining", "x-ratelimit-remaining"),
            ):
                if h.get(key, "").isdigit():
                    setattr(self.budget, attr, int(h[key]))
            if h.get("x-ratelimit-reset", "").isdigit():
                self.budget.reset_at = float(h["x-ratelimit-reset"])

    def _failure(self, repo: str, what: str, raw: httpx.Response, item: str) -> ForgeError:
        status = raw.status_code
        message, details = message_of(raw)
        said = f"{status} {message}".strip() + (f": {details}" if details else "")
        h = raw.headers
        spent = h.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()
        if status in (403, 429) and (spent or "retry-after" in h):
            if h.get("retry-after", "").isdigit():
                reset = self._now() + int(h["retry-after"])
            elif h.get("x-ratelimit-reset", "").isdigit():
                reset = float(h["x-ratelimit-reset"])
            else:
                reset = self._now() + 60
            self._blocked_until = reset
            return RateLimited(
                f"github: rate limit spent ({said}); no request before {_when(reset)}", reset
            )
        if status >= 500:
            err: ForgeError = ForgeDown(f"github: {what} in {repo}: {said}")
        elif status == 401:
            err = ForgeError(
                f"github: the token was refused ({said}); check GITHUB_TOKEN, GH_TOKEN or "
                "`gh auth status`"
            )
        elif status == 404 and (not item or not self._repo_exists(repo)):
            err = ForgeError(f"github: repository {repo} not found (or the token cannot see it)")
        elif status == 404:
            err = ForgeError(f"github: {item} not found in {repo}")
        else:
            err = ForgeError(f"github: {what} in {repo}: {said}")
        err.status = status
        return err

    def _repo_exists(self, repo: str) -> bool:
        owner, name = split(repo)
        try:
            self._send(repo, "read the repository", lambda gh: gh.rest.repos.get(owner, name))
        except ForgeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _get(self, repo: str, what: str, key: str, call: Call, item: str = "") -> Any:
        """A conditional GET: the parsed answer, or the one kept from last time on a 304."""
        with self._lock:
            kept = self._answers.get(key)
        headers = {"If-None-Match": kept[0]} if kept else {}
        resp = self._send(repo, what, lambda gh: call(gh, headers), item)
        if resp.status_code == 304 and kept is not None:
            self._fresh.append(True)
            self._has_next = kept[2]
            return kept[1]
        self._fresh.append(False)
        data = resp.parsed_data
        self._has_next = 'rel="next"' in (resp.headers.get("link") or "")
        etag = resp.headers.get("etag")
        if etag:
            with self._lock:
                self._answers[key] = (etag, data, self._has_next)
                self._answers.move_to_end(key)
                while len(self._answers) > CACHE_ENTRIES:
                    self._answers.popitem(last=False)
        return data

    def _pages(self, repo: str, what: str, key: str, call: Paged) -> list[Any]:
        """Every item of a paginated list (conditional page by page)."""
        out: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._get(repo, what, f"{key}?page={page}", at(call, page))
            out.extend(items)
            if len(items) < PER_PAGE or not self._has_next:  # the Link header names the next
                break
        return out
