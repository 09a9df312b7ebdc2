"""GitHub as a :class:`~aof.forge.base.Forge`, over its REST API with githubkit.

The questions a forge answers (pull requests, their checks, reviews and merges, issues) asked
with :class:`aof.forge.ghhttp.GitHubClient`: every GET is conditional (a 304 costs no rate
limit; an observation whose requests all answered 304 is ``unchanged``), a spent rate limit
stops every request until its reset, and errors name the repository (:mod:`aof.forge.ghhttp`).
The token: :func:`resolve_token`; a project's repository: :func:`repo_of`
(:mod:`aof.forge.ghaccess`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from .base import (
    Check,
    ForgeDown,
    ForgeError,
    Issue,
    MergeResult,
    Observation,
    PullRequest,
    RateLimited,
)
from .ghaccess import NO_TOKEN, repo_of, resolve_token
from .ghdata import check, comment, issue, pull_request, review
from .ghhttp import API_URL, MAX_PAGES, PER_PAGE, GitHubClient, at, in_session, split

MAX_ISSUE_PAGES = 50
LOG_ENTRIES = 512  # remembered log excerpts (a finished job's log never changes)
METHODS = ("merge", "squash", "rebase")

__all__ = ["API_URL", "NO_TOKEN", "GitHubForge", "forge_for", "repo_of", "resolve_token"]


def forge_for(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GitHubForge:
    """The GitHub forge aof.yaml's ``forges.github`` describes (``api_url``); its token is
    resolved from ``env`` (:func:`resolve_token`) when it first talks to GitHub."""
    section = (config.get("forges") or {}).get("github") or {}
    return GitHubForge(api_url=str(section.get("api_url") or API_URL), env=env)


class GitHubForge(GitHubClient):
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
        super().__init__(api_url, token, env=env, now=now, timeout=timeout)
        self._logs: OrderedDict[str, str] = OrderedDict()

    # --- pull requests --------------------------------------------------------------------

    @in_session
    def find_pr(self, repo: str, head: str) -> PullRequest | None:
        owner, name = split(repo)
        items = self._get(
            repo,
            f"find the pull request of {head}",
            f"{repo} pulls head={head}",
            lambda gh, h: gh.rest.pulls.list(
                owner, name, head=f"{owner}:{head}", state="open", per_page=PER_PAGE, headers=h
            ),
        )
        found = [p for p in items if p.head.ref == head]
        return pull_request(found[0]) if found else None

    @in_session
    def open_pr(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRequest:
        owner, name = split(repo)
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
        return pull_request(resp.parsed_data)

    @in_session
    def update_pr(self, repo: str, number: int, *, title: str, body: str) -> PullRequest:
        owner, name = split(repo)
        resp = self._send(
            repo,
            f"update pull request #{number}",
            lambda gh: gh.rest.pulls.update(owner, name, number, title=title, body=body),
            item=f"pull request #{number}",
        )
        return pull_request(resp.parsed_data)

    def _pull(self, repo: str, number: int) -> Any:
        owner, name = split(repo)
        return self._get(
            repo,
            f"read pull request #{number}",
            f"{repo} pull {number}",
            lambda gh, h: gh.rest.pulls.get(owner, name, number, headers=h),
            item=f"pull request #{number}",
        )

    @in_session
    def open_prs(self, repo: str) -> dict[int, PullRequest]:
        owner, name = split(repo)
        items = self._pages(
            repo,
            "list the open pull requests",
            f"{repo} open pulls",
            lambda gh, h, p: gh.rest.pulls.list(
                owner, name, state="open", per_page=PER_PAGE, page=p, headers=h
            ),
        )
        return {int(i.number): pull_request(i) for i in items}

    @in_session
    def observe(
        self,
        repo: str,
        number: int,
        *,
        pr: PullRequest | None = None,
        reviews: bool = True,
        checks: list[Check] | None = None,
    ) -> Observation:
        owner, name = split(repo)
        self._fresh.clear()
        pr = pr if pr is not None else pull_request(self._pull(repo, number))
        runs = self._check_runs(repo, pr.head_sha) if checks is None else []
        failing = any(c.failed for c in checks or []) or any(check(r).failed for r in runs)
        # The base branch matters only when a check fails: is it red there too?
        base_sha = self._branch_head(repo, pr.base_ref) if failing else None
        base_runs = self._check_runs(repo, base_sha) if base_sha else []
        if not reviews:
            seen = self._observed(repo, pr, runs, base_sha, base_runs, [], [], reviewed=False)
            if checks is not None:
                seen.checks = checks
            return seen
        review_items = self._pages(
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
        seen = self._observed(repo, pr, runs, base_sha, base_runs, review_items, comments)
        if checks is not None:
            seen.checks = checks
        return seen

    def _observed(
        self,
        repo: str,
        pr: PullRequest,
        runs: list[Any],
        base_sha: str | None,
        base_runs: list[Any],
        reviews: list[Any],
        comments: list[Any],
        *,
        reviewed: bool = True,
    ) -> Observation:
        unchanged = bool(self._fresh) and all(self._fresh)
        checks = [check(r) for r in runs]
        for seen, run in zip(checks, runs, strict=True):
            if seen.failed:
                seen.log_excerpt = self._excerpt(repo, run)
        return Observation(
            pr=pr,
            checks=checks,
            base_checks=[check(r) for r in base_runs],
            base_sha=base_sha,
            reviews=[review(r) for r in reviews],
            comments=[comment(c) for c in comments],
            unchanged=unchanged,
            reviewed=reviewed,
        )

    def _check_runs(self, repo: str, sha: str) -> list[Any]:
        owner, name = split(repo)
        out: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._get(
                repo,
                f"read the checks of {sha[:12]}",
                f"{repo} checks {sha}?page={page}",
                at(
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
        owner, name = split(repo)
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
        owner, name = split(repo)
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
        owner, name = split(repo)
        out = run.output
        parts = [p.strip() for p in (out.title, out.summary, out.text) if p and p.strip()]
        if out.annotations_count:
            resp = self._send(
                repo,
                f"read the annotations of check run {run.id}",
                lambda gh: gh.rest.checks.list_annotations(owner, name, run.id, per_page=PER_PAGE),
            )
            parts.extend(
                f"{a.path}:{a.start_line}: {a.annotation_level or 'failure'}: {a.message or ''}"
                for a in resp.parsed_data
            )
        from .logs import excerpt

        return excerpt("\n".join(parts))

    # --- merging --------------------------------------------------------------------------

    @in_session
    def merge(self, repo: str, number: int, *, sha: str, method: str) -> MergeResult:
        owner, name = split(repo)
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
        now = pull_request(self._pull(repo, number))
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

    @in_session
    def issues(self, repo: str, *, labels: list[str], limit: int) -> list[Issue]:
        from githubkit.utils import UNSET

        owner, name = split(repo)
        wanted = ",".join(labels)
        out: list[Issue] = []
        for page in range(1, MAX_ISSUE_PAGES + 1):
            if len(out) >= limit:
                break
            items = self._get(
                repo,
                "list the issues",
                f"{repo} issues labels={wanted}?page={page}",
                at(
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
            out.extend(issue(i) for i in items if not i.pull_request)
            if len(items) < PER_PAGE:
                break
        return out[:limit]

    @in_session
    def issue(self, repo: str, number: int) -> Issue:
        owner, name = split(repo)
        data = self._get(
            repo,
            f"read issue #{number}",
            f"{repo} issue {number}",
            lambda gh, h: gh.rest.issues.get(owner, name, number, headers=h),
            item=f"issue #{number}",
        )
        if data.pull_request:
            raise ForgeError(f"github: #{number} in {repo} is a pull request, not an issue")
        return issue(data)
