"""The forge interface: what aof asks of a code host (GitHub today; GitLab could implement it).

A :class:`Forge` opens and updates pull requests, observes one (its state and head, the
checks on its head commit and on its base branch's head, its reviews and review comments,
excerpts of failing checks' logs), merges one at the head commit that was seen green, and
lists issues. Everything it returns is plain data (:class:`Observation` and its parts), so
the reactions (:mod:`aof.forge.reactions`) are a pure function of it and can be tested with
tables.

Errors: :class:`ForgeError` (the forge answered with an error: an unknown repository, a
refused merge), :class:`ForgeDown` (no answer: the network, a 5xx), :class:`RateLimited`
(403/429 with the time the budget resets), :class:`NoToken` (naming the variables looked at).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import AofError


class ForgeError(AofError):
    """The forge refused a request (names the repository, the request and its answer)."""

    status: int | None = None  # the HTTP status of the forge's answer, when there was one


class ForgeDown(ForgeError):
    """The forge did not answer (a network error, a timeout, a 5xx): try again later."""


class RateLimited(ForgeError):
    """The forge's rate limit is spent (403/429): no request before ``reset_at`` (epoch s)."""

    def __init__(self, message: str, reset_at: float) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class NoToken(ForgeError):
    """No token to talk to the forge with (names every place looked at)."""


@dataclass
class PullRequest:
    number: int
    url: str  # the page a person opens (html_url)
    state: str  # open | closed
    merged: bool
    head_sha: str
    head_ref: str
    base_ref: str
    draft: bool = False
    mergeable_state: str | None = None  # clean | unstable | dirty | blocked | behind | unknown
    merge_commit_sha: str | None = None
    title: str = ""
    body: str = ""
    updated_at: str | None = None  # moves on a push, a review, a comment: not on a check


@dataclass
class Check:
    """One check run (or commit status) on a commit."""

    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None  # success | failure | neutral | cancelled | timed_out | ...
    url: str | None = None
    id: int | None = None
    log_excerpt: str = ""  # the end of a failing job's log, or its annotations

    @property
    def failed(self) -> bool:
        return self.status == "completed" and self.conclusion in (
            "failure",
            "timed_out",
            "cancelled",
            "action_required",
            "startup_failure",
        )

    @property
    def passed(self) -> bool:
        return self.status == "completed" and self.conclusion in ("success", "neutral", "skipped")


@dataclass
class Review:
    id: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    body: str
    commit_id: str | None
    submitted_at: str | None = None


@dataclass
class ReviewComment:
    id: int
    review_id: int | None
    user: str
    path: str
    line: int | None
    body: str
    commit_id: str | None = None


@dataclass
class Observation:
    """What a poll saw of one pull request."""

    pr: PullRequest
    checks: list[Check] = field(default_factory=list)  # on the PR's head commit
    base_checks: list[Check] = field(default_factory=list)  # on the base branch's head
    base_sha: str | None = None
    reviews: list[Review] = field(default_factory=list)
    comments: list[ReviewComment] = field(default_factory=list)
    unchanged: bool = False  # every request answered 304: nothing new since the last poll
    reviewed: bool = True  # reviews and comments were read (else: the caller's last ones)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class MergeResult:
    merged: bool
    sha: str | None  # the merge commit
    message: str  # the forge's answer (why not, when not merged)
    conflict: bool = False  # the head moved or the branch does not merge: back to the agent


@dataclass
class Issue:
    number: int
    title: str
    body: str
    url: str
    state: str
    labels: list[str] = field(default_factory=list)


@dataclass
class Budget:
    """The forge's rate-limit budget as last seen."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    requests: int = 0  # requests sent by this client
    not_modified: int = 0  # of which answered 304 (free)


class Forge(Protocol):
    """A code host. Implementations: :class:`aof.forge.github.GitHubForge`."""

    budget: Budget

    def find_pr(self, repo: str, head: str) -> PullRequest | None:
        """The open pull request from branch ``head``, if any."""
        ...

    def open_pr(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRequest: ...

    def update_pr(self, repo: str, number: int, *, title: str, body: str) -> PullRequest: ...

    def open_prs(self, repo: str) -> dict[int, PullRequest]:
        """Every open pull request of ``repo`` by number: one request per hundred."""
        ...

    def observe(
        self,
        repo: str,
        number: int,
        *,
        pr: PullRequest | None = None,
        reviews: bool = True,
        checks: list[Check] | None = None,
    ) -> Observation:
        """The pull request's current condition (conditional requests: a 304 is free).
        ``pr``: as :meth:`open_prs` listed it (not read again); ``reviews``: read its
        reviews and comments (else they are left empty and ``reviewed`` is False);
        ``checks``: the head's checks as last seen, all completed (not read again)."""
        ...

    def merge(self, repo: str, number: int, *, sha: str, method: str) -> MergeResult:
        """Merge only if the head is still ``sha`` (the forge refuses otherwise)."""
        ...

    def issues(self, repo: str, *, labels: list[str], limit: int) -> list[Issue]:
        """Open issues (never pull requests), newest first."""
        ...

    def issue(self, repo: str, number: int) -> Issue: ...
