"""GitHub as a :class:`~aof.forge.base.Forge`, over its REST API with githubkit.

githubkit (sync client, typed models that parse every answer) is imported only when a
request is made: a CLI call that does not talk to GitHub never loads it.

- **Conditional requests.** Every GET is sent with the ``If-None-Match`` of the last answer to
  the same request; a 304 costs no rate limit and the answer kept from last time is used.
  :attr:`GitHubForge.budget` counts requests and 304s; an observation whose requests all
  answered 304 is ``unchanged``.
- **Rate limits.** ``x-ratelimit-*`` of every answer is kept in ``budget``. A 403 or 429 with
  no requests left (or a ``retry-after``) raises :class:`RateLimited` with the reset time, and
  no request is sent before it (the clock is injected: ``now``).
- **Errors.** An unknown repository or one the token cannot see is a :class:`ForgeError`
  naming it; no answer (the network, a timeout, a 5xx) is :class:`ForgeDown`. The token is
  never in a message, a log or a command line.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from ..clock import format_time
from ..model.forges import DEFAULT_API_URL, is_repo
from .base import (
    Budget,
    Check,
    ForgeDown,
    ForgeError,
    Issue,
    MergeResult,
    NoToken,
    Observation,
    PullRequest,
    RateLimited,
    Review,
    ReviewComment,
)

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

API_URL = DEFAULT_API_URL
PER_PAGE = 100
MAX_PAGES = 10  # of reviews, comments or check runs: 1,000 is more than any PR has
MAX_ISSUE_PAGES = 50
CACHE_ENTRIES = 4096  # remembered answers (ETag and parsed data), least recently used out
LOG_ENTRIES = 512  # remembered log excerpts (a finished job's log never changes)
NO_TOKEN = (
    "no GitHub token: set GITHUB_TOKEN or GH_TOKEN, or log in with `gh auth login` "
    "(looked at GITHUB_TOKEN, GH_TOKEN, gh auth token)"
)

Call = Callable[["GitHub[Any]", dict[str, str]], Any]
Paged = Callable[["GitHub[Any]", dict[str, str], int], Any]
METHODS = ("merge", "squash", "rebase")


def resolve_token(env: Mapping[str, str] | None = None, host: str | None = None) -> str:
    """``GITHUB_TOKEN``, else ``GH_TOKEN``, else what ``gh auth token`` prints (when ``gh`` is
    on PATH; ``--hostname`` for a GitHub Enterprise ``host``), else :class:`NoToken`."""
    import shutil
    import subprocess

    env = os.environ if env is None else env
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        value = (env.get(name) or "").strip()
        if value:
            return value
    gh = shutil.which("gh", path=env.get("PATH"))
    if gh:
        argv = [gh, "auth", "token"]
        if host and host not in ("github.com", "api.github.com"):
            argv += ["--hostname", host]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=15, env=dict(env), check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        token = proc.stdout.strip() if proc is not None and proc.returncode == 0 else ""
        if token and "\n" not in token:
            return token
    raise NoToken(NO_TOKEN)


_REMOTE = (
    # https://github.com/o/r(.git), ssh://git@github.com(:22)/o/r(.git), git://...
    re.compile(r"(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/([^/]+)/([^/]+?)(?:\.git)?/?"),
    # git@github.com:o/r(.git)
    re.compile(r"(?:[^@/:]+@)?([^/:]+):([^/]+)/([^/]+?)(?:\.git)?/?"),
)


def repo_of(project: Mapping[str, Any], api_url: str | None = None) -> str | None:
    """A project's GitHub repository, ``owner/name``: its ``repo`` field, else read from its
    ``remote_url`` when that is a GitHub URL (github.com, or the host of ``api_url``)."""
    repo = project.get("repo")
    if is_repo(repo):
        return str(repo)
    url = project.get("remote_url")
    if not isinstance(url, str):
        return None
    hosts = {"github.com", "www.github.com"}
    if api_url:
        from urllib.parse import urlsplit

        host = urlsplit(api_url).hostname
        if host and host != "api.github.com":
            hosts.add(host.lower())
    for pattern in _REMOTE:
        m = pattern.fullmatch(url.strip())
        if m and m.group(1).lower() in hosts:
            name = f"{m.group(2)}/{m.group(3)}"
            return name if is_repo(name) else None
    return None


def forge_for(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GitHubForge:
    """The GitHub forge aof.yaml's ``forges.github`` describes (``api_url``); its token is
    resolved from ``env`` (:func:`resolve_token`) when it first talks to GitHub."""
    section = (config.get("forges") or {}).get("github") or {}
    return GitHubForge(api_url=str(section.get("api_url") or API_URL), env=env)


def _at(call: Paged, page: int) -> Call:
    """``call`` for one page."""
    return lambda gh, headers: call(gh, headers, page)


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(epoch, UTC))


def _split(repo: str) -> tuple[str, str]:
    if not is_repo(repo):
        raise ForgeError(f"github: {repo!r} is not a repository name (owner/name)")
    owner, name = repo.split("/")
    return owner, name


class GitHubForge:
    """GitHub (or GitHub Enterprise Server at ``api_url``, like ``https://HOST/api/v3``)."""

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
        self._answers: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._logs: OrderedDict[str, str] = OrderedDict()
        self._fresh: list[bool] = []  # per request of the current observe: answered 304?

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

    def _send(self, repo: str, what: str, call: Callable[[GitHub[Any]], Any], item: str = "") -> Any:
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
            self.budget.not_modified += 1
        return resp

    def _read_budget(self, raw: httpx.Response) -> None:
        h = raw.headers
        for attr, key in (("limit", "x-ratelimit-limit"), ("remaining", "x-ratelimit-remaining")):
            if h.get(key, "").isdigit():
                setattr(self.budget, attr, int(h[key]))
        if h.get("x-ratelimit-reset", "").isdigit():
            self.budget.reset_at = float(h["x-ratelimit-reset"])

    def _failure(self, repo: str, what: str, raw: httpx.Response, item: str) -> ForgeError:
        status = raw.status_code
        message, details = _message(raw)
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
        owner, name = _split(repo)
        try:
            self._send(repo, "read the repository", lambda gh: gh.rest.repos.get(owner, name))
        except ForgeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _get(self, repo: str, what: str, key: str, call: Call, item: str = "") -> Any:
        """A conditional GET: the parsed answer, or the one kept from last time on a 304."""
        kept = self._answers.get(key)
        headers = {"If-None-Match": kept[0]} if kept else {}
        resp = self._send(repo, what, lambda gh: call(gh, headers), item)
        if resp.status_code == 304 and kept is not None:
            self._answers.move_to_end(key)
            self._fresh.append(True)
            return kept[1]
        self._fresh.append(False)
        data = resp.parsed_data
        etag = resp.headers.get("etag")
        if etag:
            self._answers[key] = (etag, data)
            self._answers.move_to_end(key)
            while len(self._answers) > CACHE_ENTRIES:
                self._answers.popitem(last=False)
        return data

    def _pages(self, repo: str, what: str, key: str, call: Paged) -> list[Any]:
        """Every item of a paginated list (conditional page by page)."""
        out: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._get(repo, what, f"{key}?page={page}", _at(call, page))
            out.extend(items)
            if len(items) < PER_PAGE:
                break
        return out

    # --- pull requests --------------------------------------------------------------------

    def find_pr(self, repo: str, head: str) -> PullRequest | None:
        owner, name = _split(repo)
        items = self._get(
            repo,
            f"find the pull request of {head}",
            f"{repo} pulls head={head}",
            lambda gh, h: gh.rest.pulls.list(
                owner, name, head=f"{owner}:{head}", state="open", per_page=PER_PAGE, headers=h
            ),
        )
        found = [p for p in items if p.head.ref == head]
        return _pr(found[0]) if found else None

    def open_pr(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRequest:
        owner, name = _split(repo)
        try:
            resp = self._send(
                repo,
                f"open a pull request from {head}",
                lambda gh: gh.rest.pulls.create(
                    owner, name, head=head, base=base, title=title, body=body
                ),
            )
        except ForgeError as exc:
            existing = self.find_pr(repo, head) if exc.status == 422 else None
            if existing is None:
                raise
            return existing  # already open (a retry after a lost answer): the same PR
        return _pr(resp.parsed_data)

    def update_pr(self, repo: str, number: int, *, title: str, body: str) -> PullRequest:
        owner, name = _split(repo)
        resp = self._send(
            repo,
            f"update pull request #{number}",
            lambda gh: gh.rest.pulls.update(owner, name, number, title=title, body=body),
            item=f"pull request #{number}",
        )
        return _pr(resp.parsed_data)

    def _pull(self, repo: str, number: int) -> Any:
        owner, name = _split(repo)
        return self._get(
            repo,
            f"read pull request #{number}",
            f"{repo} pull {number}",
            lambda gh, h: gh.rest.pulls.get(owner, name, number, headers=h),
            item=f"pull request #{number}",
        )

    def observe(self, repo: str, number: int) -> Observation:
        owner, name = _split(repo)
        self._fresh = []
        pr = _pr(self._pull(repo, number))
        runs = self._check_runs(repo, pr.head_sha)
        base_sha = self._branch_head(repo, pr.base_ref)
        base_runs = self._check_runs(repo, base_sha) if base_sha else []
        reviews = self._pages(
            repo,
            f"read the reviews of pull request #{number}",
            f"{repo} reviews {number}",
            lambda gh, h, p: gh.rest.pulls.list_reviews(
                owner, name, number, per_page=PER_PAGE, page=p, headers=h
            ),
        )
        comments = self._pages(
            repo,
            f"read the review comments of pull request #{number}",
            f"{repo} comments {number}",
            lambda gh, h, p: gh.rest.pulls.list_review_comments(
                owner, name, number, per_page=PER_PAGE, page=p, headers=h
            ),
        )
        unchanged = bool(self._fresh) and all(self._fresh)
        checks = [_check(r) for r in runs]
        for check, run in zip(checks, runs, strict=True):
            if check.failed:
                check.log_excerpt = self._excerpt(repo, run)
        return Observation(
            pr=pr,
            checks=checks,
            base_checks=[_check(r) for r in base_runs],
            base_sha=base_sha,
            reviews=[_review(r) for r in reviews],
            comments=[_comment(c) for c in comments],
            unchanged=unchanged,
        )

    def _check_runs(self, repo: str, sha: str) -> list[Any]:
        owner, name = _split(repo)
        out: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._get(
                repo,
                f"read the checks of {sha[:12]}",
                f"{repo} checks {sha}?page={page}",
                _at(
                    lambda gh, h, p: gh.rest.checks.list_for_ref(
                        owner, name, sha, filter_="latest", per_page=PER_PAGE, page=p, headers=h
                    ),
                    page,
                ),
            )
            out.extend(data.check_runs)
            if len(data.check_runs) < PER_PAGE:
                break
        return out

    def _branch_head(self, repo: str, branch: str) -> str | None:
        owner, name = _split(repo)
        try:
            data = self._get(
                repo,
                f"read branch {branch}",
                f"{repo} branch {branch}",
                lambda gh, h: gh.rest.repos.get_branch(owner, name, branch, headers=h),
                item=f"branch {branch}",
            )
        except ForgeError as exc:
            if exc.status == 404:
                return None  # the base branch is gone: no base checks to compare with
            raise
        return str(data.commit.sha)

    def _excerpt(self, repo: str, run: Any) -> str:
        """What failed in a check run: the end of its Actions job log (trimmed to the error
        region), else its output and annotations. Kept: a finished job never changes."""
        key = f"{repo} {run.id}"
        if key in self._logs:
            return self._logs[key]
        owner, name = _split(repo)
        text = ""
        if run.app is not None and run.app.slug == "github-actions":
            from .logs import excerpt

            try:  # a 302 to the log's plain-text URL, followed
                resp = self._send(
                    repo,
                    f"read the log of job {run.id}",
                    lambda gh: gh.rest.actions.download_job_logs_for_workflow_run(
                        owner, name, run.id
                    ),
                )
                text = excerpt(resp.text)
            except ForgeError as exc:
                if isinstance(exc, ForgeDown | RateLimited):
                    raise
                text = ""  # expired or not readable with this token: the output instead
        if not text:
            text = self._output(repo, run)
        self._logs[key] = text
        while len(self._logs) > LOG_ENTRIES:
            self._logs.popitem(last=False)
        return text

    def _output(self, repo: str, run: Any) -> str:
        owner, name = _split(repo)
        out = run.output
        parts = [p.strip() for p in (out.title, out.summary, out.text) if p and p.strip()]
        if out.annotations_count:
            resp = self._send(
                repo,
                f"read the annotations of check run {run.id}",
                lambda gh: gh.rest.checks.list_annotations(
                    owner, name, run.id, per_page=PER_PAGE
                ),
            )
            parts.extend(
                f"{a.path}:{a.start_line}: {a.annotation_level or 'failure'}: {a.message or ''}"
                for a in resp.parsed_data
            )
        from .logs import excerpt

        return excerpt("\n".join(parts))

    # --- merging --------------------------------------------------------------------------

    def merge(self, repo: str, number: int, *, sha: str, method: str) -> MergeResult:
        owner, name = _split(repo)
        if method not in METHODS:
            raise ForgeError(f"github: merge method {method!r}: not one of {', '.join(METHODS)}")
        how = cast(Literal["merge", "squash", "rebase"], method)
        try:
            resp = self._send(
                repo,
                f"merge pull request #{number}",
                lambda gh: gh.rest.pulls.merge(owner, name, number, sha=sha, merge_method=how),
                item=f"pull request #{number}",
            )
        except ForgeError as exc:
            if exc.status not in (405, 409, 422):
                raise
            return self._not_merged(repo, number, sha, exc)
        data = resp.parsed_data
        return MergeResult(merged=bool(data.merged), sha=data.sha, message=data.message)

    def _not_merged(self, repo: str, number: int, sha: str, exc: ForgeError) -> MergeResult:
        """Why a merge was refused, from the pull request as it is now."""
        now = _pr(self._pull(repo, number))
        said = str(exc).split(": ", 2)[-1]
        if now.merged:
            return MergeResult(True, now.merge_commit_sha, "already merged")
        if now.state == "closed":
            return MergeResult(False, None, f"pull request #{number} is closed ({said})")
        if exc.status == 409 or now.head_sha != sha:
            moved = f"the head moved from {sha[:12]} to {now.head_sha[:12]}"
            return MergeResult(False, None, f"{moved} ({said})", conflict=True)
        # Refused by a rule (reviews or checks required): not the agent's to fix.
        ruled = now.mergeable_state in ("blocked", "draft")
        return MergeResult(False, None, said, conflict=not ruled)

    # --- issues ---------------------------------------------------------------------------

    def issues(self, repo: str, *, labels: list[str], limit: int) -> list[Issue]:
        from githubkit.utils import UNSET

        owner, name = _split(repo)
        wanted = ",".join(labels)
        out: list[Issue] = []
        for page in range(1, MAX_ISSUE_PAGES + 1):
            if len(out) >= limit:
                break
            items = self._get(
                repo,
                "list the issues",
                f"{repo} issues labels={wanted}?page={page}",
                _at(
                    lambda gh, h, p: gh.rest.issues.list_for_repo(
                        owner,
                        name,
                        state="open",
                        sort="created",
                        direction="desc",
                        per_page=PER_PAGE,
                        page=p,
                        headers=h,
                        labels=wanted or UNSET,
                    ),
                    page,
                ),
            )
            out.extend(_issue(i) for i in items if not i.pull_request)
            if len(items) < PER_PAGE:
                break
        return out[:limit]

    def issue(self, repo: str, number: int) -> Issue:
        owner, name = _split(repo)
        data = self._get(
            repo,
            f"read issue #{number}",
            f"{repo} issue {number}",
            lambda gh, h: gh.rest.issues.get(owner, name, number, headers=h),
            item=f"issue #{number}",
        )
        if data.pull_request:
            raise ForgeError(f"github: #{number} in {repo} is a pull request, not an issue")
        return _issue(data)


# --- GitHub's models as aof's plain data ------------------------------------------------------


def _message(raw: httpx.Response) -> tuple[str, str]:
    """GitHub's ``message`` and the messages of its ``errors`` (a 422's details)."""
    try:
        data = raw.json()
    except ValueError:
        return raw.reason_phrase, ""
    if not isinstance(data, dict):
        return raw.reason_phrase, ""
    errors: list[Any] = data["errors"] if isinstance(data.get("errors"), list) else []
    details = "; ".join(
        str(e.get("message") or f"{e.get('field')} {e.get('code')}")
        for e in errors
        if isinstance(e, dict)
    )
    return str(data.get("message") or raw.reason_phrase), details


def _pr(data: Any) -> PullRequest:
    merged = getattr(data, "merged", None)
    return PullRequest(
        number=data.number,
        url=data.html_url,
        state=data.state,
        merged=bool(merged) if merged is not None else data.merged_at is not None,
        head_sha=data.head.sha,
        head_ref=data.head.ref,
        base_ref=data.base.ref,
        draft=bool(data.draft),
        mergeable_state=getattr(data, "mergeable_state", None) or None,
        merge_commit_sha=getattr(data, "merge_commit_sha", None) or None,
        title=data.title,
        body=data.body or "",
    )


def _check(run: Any) -> Check:
    return Check(
        name=run.name,
        status=run.status,
        conclusion=run.conclusion,
        url=run.html_url or run.details_url,
        id=run.id,
    )


def _review(r: Any) -> Review:
    return Review(
        id=r.id,
        user=r.user.login if r.user else "ghost",
        state=r.state,
        body=r.body or "",
        commit_id=r.commit_id,
        submitted_at=format_time(r.submitted_at) if r.submitted_at else None,
    )


def _comment(c: Any) -> ReviewComment:
    return ReviewComment(
        id=c.id,
        review_id=c.pull_request_review_id,
        user=c.user.login if c.user else "ghost",
        path=c.path,
        line=c.line or c.original_line or None,
        body=c.body,
        commit_id=c.commit_id,
    )


def _issue(i: Any) -> Issue:
    return Issue(
        number=i.number,
        title=i.title,
        body=i.body or "",
        url=i.html_url,
        state=i.state,
        labels=[x if isinstance(x, str) else str(x.name or "") for x in i.labels or []],
    )
