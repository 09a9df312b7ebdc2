"""GitHub's answers (githubkit's typed models) as aof's plain data (:mod:`aof.forge.base`),
and the message of an error answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import format_time
from .base import Check, Issue, PullRequest, Review, ReviewComment

if TYPE_CHECKING:
    import httpx


def message_of(raw: httpx.Response) -> tuple[str, str]:
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


def pull_request(data: Any) -> PullRequest:
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
        updated_at=str(data.updated_at) if getattr(data, "updated_at", None) else None,
    )


def check(run: Any) -> Check:
    return Check(
        name=run.name,
        status=run.status,
        conclusion=run.conclusion,
        url=run.html_url or run.details_url,
        id=run.id,
    )


def review(r: Any) -> Review:
    return Review(
        id=r.id,
        user=r.user.login if r.user else "ghost",
        state=r.state,
        body=r.body or "",
        commit_id=r.commit_id,
        submitted_at=format_time(r.submitted_at) if r.submitted_at else None,
    )


def comment(c: Any) -> ReviewComment:
    return ReviewComment(
        id=c.id,
        review_id=c.pull_request_review_id,
        user=c.user.login if c.user else "ghost",
        path=c.path,
        line=c.line or c.original_line or None,
        body=c.body,
        commit_id=c.commit_id,
    )


def issue(i: Any) -> Issue:
    return Issue(
        number=i.number,
        title=i.title,
        body=i.body or "",
        url=i.html_url,
        state=i.state,
        labels=[x if isinstance(x, str) else str(x.name or "") for x in i.labels or []],
    )
