"""A fake GitHub REST API for tests: a real HTTP server on 127.0.0.1 whose state is plain
Python objects a test drives, and whose repositories are real bare git repositories.

Start it with the ``fake_github`` fixture (import it into a test module) or
``FakeGitHub().start()``; ``fake.url`` is the API base (``fake.url + "/api/v3"`` works too, as
on GitHub Enterprise). What it serves (payloads in :mod:`.ghpayloads`, parsed by githubkit's
typed models):

- ``GET/POST /repos/{o}/{r}/pulls`` (``?head=OWNER:BRANCH&state=``), ``GET/PATCH .../pulls/{n}``,
  ``PUT .../pulls/{n}/merge`` (``sha`` must be the head: else 409; conflicts: 405; the merge
  commit is made in the bare repository with ``git commit-tree`` and the base branch moved;
  ``Closes #N`` in the body closes issue N), ``GET .../pulls/{n}/reviews``,
  ``GET .../pulls/{n}/comments``;
- ``GET .../commits/{sha}/check-runs``, ``GET .../check-runs/{id}/annotations``,
  ``GET .../actions/jobs/{id}/logs`` (a 302 to ``/_logs/{id}.txt`` on the same server);
- ``GET .../branches/{b}``, ``GET /repos/{o}/{r}``, ``GET .../issues`` (``state``, ``labels``,
  ``per_page``, ``page``; pull requests listed as issues, as GitHub does), ``GET .../issues/{n}``.

A pull request's head and base SHAs are read from the bare repository's branches on every
request. Every GET answers an ETag (a hash of the body) and a 304 to a matching
``If-None-Match``; every answer carries ``x-ratelimit-*``. Switches: :meth:`FakeGitHub.limit`
(403/429 with ``x-ratelimit-remaining: 0``), :meth:`FakeGitHub.down` (connection refused or
503). Every request is logged in :attr:`FakeGitHub.requests`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from . import ghpayloads as P

TOKEN = "ghp_fake-token-for-tests"
GIT_ID = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}
CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b", re.IGNORECASE)


# --- git on a bare repository -------------------------------------------------------------


def git(repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ID, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def rev(bare: Path, branch: str) -> str | None:
    """The SHA of ``branch`` in ``bare``, or None when it does not exist."""
    out = git(bare, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)
    return out or None


def make_bare(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """A bare repository at ``path`` with one commit of ``files`` on ``branch``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "--bare", "-b", branch)
    push_branch(path, branch, files or {"README.md": "hello\n"}, message="initial commit")
    return path


def push_branch(
    bare: Path,
    branch: str,
    files: dict[str, str],
    *,
    message: str = "change",
    parent: str | None = None,
) -> str:
    """Commit ``files`` (path -> text) on ``branch`` of ``bare`` as a push would: on top of the
    branch's tip, else ``parent`` (a branch or SHA), else the default branch; returns the SHA."""
    base = rev(bare, branch) or (
        (rev(bare, parent) or parent)
        if parent
        else rev(bare, git(bare, "symbolic-ref", "--short", "HEAD"))
    )
    index = bare / f"fake-index-{threading.get_ident()}"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        if base:
            git(bare, "read-tree", base, env=env)
        for name, text in files.items():
            blob = subprocess.run(
                ["git", "hash-object", "-w", "--stdin"],
                cwd=bare,
                input=text,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            git(bare, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=env)
        tree = git(bare, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    sha = git(bare, "commit-tree", tree, *(["-p", base] if base else []), "-m", message)
    git(bare, "update-ref", f"refs/heads/{branch}", sha)
    return sha


# --- state ------------------------------------------------------------------------------------


@dataclass
class CheckRun:
    id: int
    repo: str
    sha: str
    name: str
    status: str = "completed"
    conclusion: str | None = "success"
    log: str | None = None  # an Actions job's log (served through a 302); None: not Actions
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)  # path, line, message
    html_url: str | None = None


@dataclass
class Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    user: str = "aof-bot"
    state: str = "open"
    draft: bool = False
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    mergeable_state: str | None = None  # forced; None: computed (clean, unstable, dirty)
    last_head: str | None = None  # the head as last seen (a merged PR's deleted branch)
    reviews: list[Review] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Review:
    id: int
    user: str
    state: str
    body: str
    commit_id: str | None
    submitted_at: str


@dataclass
class Comment:
    id: int
    user: str
    path: str
    line: int | None
    body: str
    commit_id: str
    review_id: int | None
    created_at: str


@dataclass
class IssueItem:
    number: int
    title: str
    body: str
    labels: list[str]
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    is_pr: bool = False


@dataclass
class Repo:
    full_name: str
    bare: Path
    default_branch: str
    id: int
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, IssueItem] = field(default_factory=dict)
    next_number: int = 1


@dataclass
class Logged:
    """One request the fake answered (no header values but If-None-Match)."""

    method: str
    path: str  # without the query and without an /api/v3 prefix
    query: str
    status: int
    if_none_match: str | None
    authorized: bool
    client_port: int = 0  # the connection it came on


class _Answer(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found() -> _Answer:
    return _Answer(404, P.error("Not Found", 404))


class FakeGitHub:
    """The fake's state and its switches (see the module's docstring)."""

    def __init__(self, token: str | None = TOKEN) -> None:
        self.token = token  # None: every request is accepted
        self.repos: dict[str, Repo] = {}
        self.checks: dict[int, CheckRun] = {}
        self.requests: list[Logged] = []
        self.remaining = 5000
        self.reset_at = int(time.time()) + 3600
        self._limited: tuple[int, float, int | None] | None = None  # status, reset, retry
        self._down: str | None = None
        self._seq = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- the server ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as GitHub's

            def _any(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- switches -----------------------------------------------------------------------

    def limit(self, reset_at: float, *, status: int = 403, retry_after: int | None = None) -> None:
        """Answer every request ``status`` with ``x-ratelimit-remaining: 0`` and
        ``x-ratelimit-reset: reset_at`` (and ``retry-after`` when given) until :meth:`unlimit`."""
        self._limited = (status, reset_at, retry_after)

    def unlimit(self) -> None:
        self._limited = None

    def down(self, mode: str = "refused") -> None:
        """``refused``: close the listening socket (connections refused); ``503``: answer 503."""
        self._down = mode
        if mode == "refused":
            self.stop()

    def up(self) -> None:
        if self._down == "refused":
            self.start()  # the same port
        self._down = None

    # --- the request log ----------------------------------------------------------------

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Requests logged with this method, path (a regex, searched) and status."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or re.search(path, r.path))
            and (status is None or r.status == status)
        )

    # --- state a test drives ------------------------------------------------------------

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _now(self) -> str:
        """A time for a new object: distinct and increasing (a minute per object)."""
        n = self._next()
        return f"2026-01-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z"

    def add_repo(self, full_name: str, bare: Path, default_branch: str = "main") -> Repo:
        with self._lock:
            repo = Repo(full_name, Path(bare), default_branch, 1000 + len(self.repos))
            self.repos[full_name] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name]

    def add_check(
        self,
        full_name: str,
        sha: str,
        name: str,
        conclusion: str | None = "success",
        *,
        status: str = "completed",
        log: str | None = None,
        summary: str | None = None,
        text: str | None = None,
        title: str | None = None,
        annotations: list[dict[str, Any]] | None = None,
        html_url: str | None = None,
    ) -> int:
        """A check run on commit ``sha``; ``log``: an Actions job's log; returns its id."""
        with self._lock:
            self.repo(full_name)
            cid = 40000 + self._next()
            self.checks[cid] = CheckRun(
                cid, full_name, sha, name, status, conclusion, log, title, summary, text,
                list(annotations or []), html_url,
            )  # fmt: skip
            return cid

    def set_check(
        self, cid: int, *, status: str | None = None, conclusion: str | None = None
    ) -> None:
        with self._lock:
            run = self.checks[cid]
            run.status = status or run.status
            run.conclusion = conclusion if conclusion is not None else run.conclusion

    def open_pull(
        self, full_name: str, head: str, base: str | None = None, title: str = "PR", body: str = ""
    ) -> int:
        """A pull request made by someone else than the client (for a test's set-up)."""
        with self._lock:
            repo = self.repo(full_name)
            return self._open(repo, head, base or repo.default_branch, title, body).number

    def pull(self, full_name: str, number: int) -> Pull:
        return self.repo(full_name).pulls[number]

    def set_pull(self, full_name: str, number: int, **changes: Any) -> None:
        """Change a pull request's fields (``state``, ``draft``, ``mergeable_state``, ...)."""
        with self._lock:
            pr = self.pull(full_name, number)
            for key, value in changes.items():
                setattr(pr, key, value)
            pr.updated_at = self._now()
            if changes.get("state") == "closed" and not pr.closed_at:
                pr.closed_at = pr.updated_at
            if pr.number in self.repo(full_name).issues:
                self.repo(full_name).issues[pr.number].state = pr.state

    def add_review(
        self, full_name: str, number: int, state: str, body: str = "", *, user: str = "reviewer",
        commit_id: str | None = None, bump: bool = True,
    ) -> int:  # fmt: skip
        """A review (APPROVED, CHANGES_REQUESTED, COMMENTED) on the PR's head (or ``commit_id``);
        ``bump=False`` leaves the PR's ``updated_at`` as it was."""
        with self._lock:
            repo = self.repo(full_name)
            pr = repo.pulls[number]
            sha = commit_id or rev(repo.bare, pr.head)
            item = Review(self._next() + 60000, user, state, body, sha, self._now())
            pr.reviews.append(item)
            if bump:  # GitHub moves a PR's updated_at when a review is submitted
                pr.updated_at = item.submitted_at
            return item.id

    def add_comment(
        self, full_name: str, number: int, path: str, line: int | None, body: str, *,
        user: str = "reviewer", review_id: int | None = None,
    ) -> int:  # fmt: skip
        """A review comment on ``path:line`` of the PR's head."""
        with self._lock:
            repo = self.repo(full_name)
            pr = repo.pulls[number]
            sha = rev(repo.bare, pr.head) or "0" * 40
            item = Comment(
                self._next() + 70000, user, path, line, body, sha, review_id, self._now()
            )
            pr.comments.append(item)
            pr.updated_at = item.created_at  # a review comment moves the PR too
            return item.id

    def add_issue(
        self, full_name: str, title: str, body: str = "", labels: tuple[str, ...] | list[str] = (),
        *, user: str = "alice",
    ) -> int:  # fmt: skip
        with self._lock:
            repo = self.repo(full_name)
            when = self._now()
            item = IssueItem(repo.next_number, title, body, list(labels), user, when, when)
            repo.issues[item.number] = item
            repo.next_number += 1
            return item.number

    def set_issue(self, full_name: str, number: int, **changes: Any) -> None:
        """Change an issue (``title``, ``body``, ``labels``, ``state``)."""
        with self._lock:
            item = self.repo(full_name).issues[number]
            for key, value in changes.items():
                setattr(item, key, value)
            item.updated_at = self._now()
            if item.state == "closed":
                item.closed_at = item.closed_at or item.updated_at

    # --- serving ------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path.removeprefix("/api/v3")
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        inm = h.headers.get("If-None-Match")
        auth = h.headers.get("Authorization") or ""
        authorized = self.token is None or auth in (f"Bearer {self.token}", f"token {self.token}")
        status, headers, body = self._answer(h.command, path, parts.query, raw, inm, authorized)
        with self._lock:
            port = int(h.client_address[1])
            self.requests.append(
                Logged(h.command, path, parts.query, status, inm, authorized, port)
            )
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-used": str(5000 - self.remaining),
            "x-ratelimit-resource": "core",
        }

    def _answer(
        self, method: str, path: str, query: str, raw: bytes, inm: str | None, authorized: bool
    ) -> tuple[int, dict[str, str], bytes]:
        if self._down == "503":
            body = json.dumps(P.error("Service Unavailable", 503)).encode()
            return 503, {"Content-Type": "application/json"}, body
        if path.startswith("/_logs/"):  # where a job log's redirect leads: a signed URL
            return self._log(path)
        if self._limited is not None:
            status, reset, retry = self._limited
            headers = {**self._rate_headers(), "x-ratelimit-remaining": "0"}
            headers["x-ratelimit-reset"] = str(int(reset))
            message = "API rate limit exceeded for user ID 1."
            if retry is not None:
                headers["retry-after"] = str(retry)
                message = "You have exceeded a secondary rate limit."
            body = json.dumps(P.error(message, status)).encode()
            return status, {"Content-Type": "application/json", **headers}, body
        if not authorized:
            body = json.dumps(P.error("Bad credentials", 401)).encode()
            return 401, {"Content-Type": "application/json"}, body
        try:
            with self._lock:
                status, data, extra = self._route(method, path, parse_qs(query), raw)
        except _Answer as ans:
            status, data, extra = ans.status, ans.body, ans.headers
        body = json.dumps(data).encode() if data is not None else b""
        headers = {"Content-Type": "application/json; charset=utf-8", **extra}
        if method == "GET" and status == 200:
            etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if inm == etag:
                return 304, {"ETag": etag, **self._rate_headers()}, b""
        if status < 500:
            self.remaining = max(self.remaining - 1, 0)
        return status, {**headers, **self._rate_headers()}, body

    def _log(self, path: str) -> tuple[int, dict[str, str], bytes]:
        m = re.fullmatch(r"/_logs/(\d+)\.txt", path)
        run = self.checks.get(int(m.group(1))) if m else None
        if run is None or run.log is None:
            return 404, {}, b"not found"
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, run.log.encode()

    def _route(
        self, method: str, path: str, q: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        from .fakegithub_routes import route

        return route(self, method, path, q, json.loads(raw) if raw else {})

    def _open(self, repo: Repo, head: str, base: str, title: str, body: str) -> Pull:
        when = self._now()
        pr = Pull(repo.next_number, head, base, title, body, created_at=when, updated_at=when)
        repo.pulls[pr.number] = pr
        repo.issues[pr.number] = IssueItem(
            pr.number, title, body, [], pr.user, when, when, is_pr=True
        )
        repo.next_number += 1
        return pr


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started :class:`FakeGitHub` (stopped after the test)."""
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
