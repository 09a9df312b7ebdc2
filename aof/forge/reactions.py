"""Reactions to a pull request's condition: a pure function of what a poll saw.

Every poll derives the reactions from the PR's **current condition**, not from what changed
since the last one, and each reaction carries fingerprints; the task file keeps the
fingerprints of the reactions already applied (written in the same change as the reaction),
so a condition that persists reacts once, a daemon that restarts neither repeats nor forgets
a reaction, and a new head commit with the same failing check reacts again.

=====================  =========================================================  ===========
reaction               when                                                       fingerprint
=====================  =========================================================  ===========
``merged``             the PR was merged (by aof, or by a person)                 ``merged``
``closed``             closed without a merge: the task is cancelled              ``closed``
``ci_failed``          a check on the head commit failed (and not on the base)    ``ci:SHA:NAME``
``base_red``           the failing checks fail on the base branch's head too:     ``base:SHA:NAMES``
                       a person is told, the agent is not blamed
``changes_requested``  a review requested changes (its comments: file, line)      ``review:ID``
``merge``              approved (``approvals``), every check on the head passed,  ``merge:SHA``
                       not a draft, mergeable: with ``merge: auto`` aof merges
                       at that head SHA
``merge_waiting``      the same with ``merge: manual``: a person is told          ``manual:SHA``
``stuck``              nothing changed for ``reactions.stuck.after_s``            ``stuck:SHA``
=====================  =========================================================  ===========

The reaction settings are aof.yaml's ``reactions`` (:data:`DEFAULTS`): ``retries`` is how many
times a reaction may send the work back to its agent before it escalates (a notification and
the task blocked for a person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import Check, Observation

DEFAULTS: dict[str, dict[str, Any]] = {
    "ci_failed": {"action": "send_back", "retries": 3},
    "changes_requested": {"action": "send_back", "retries": 3},
    "merge_conflict": {"action": "send_back", "retries": 2},
    "closed": {"action": "cancel"},
    "stuck": {"action": "notify", "after_s": 3600},
}
EXCERPT_LINES = 40  # of each failing check's log, in the agent's feedback


@dataclass
class Reaction:
    name: str  # merged | closed | ci_failed | base_red | changes_requested | merge | ...
    fingerprints: list[str]
    reason: str
    feedback: str = ""  # for the agent, under ## Feedback
    sha: str | None = None  # the head it was seen on
    data: dict[str, Any] = field(default_factory=dict)


def settings(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One reaction's settings: aof.yaml's ``reactions.NAME`` over :data:`DEFAULTS`."""
    return {**DEFAULTS.get(name, {}), **((config.get("reactions") or {}).get(name) or {})}


def derive(
    obs: Observation,
    done: set[str],
    *,
    merge: str = "manual",
    approvals: int = 1,
    quiet_s: float = 0.0,
    config: dict[str, Any] | None = None,
) -> list[Reaction]:
    """The reactions ``obs`` calls for that are not in ``done`` (fingerprints applied).

    ``merge`` and ``approvals``: the pr gate's; ``quiet_s``: how long the PR's condition has
    not changed (for ``stuck``)."""
    config = config or {}
    pr = obs.pr
    if pr.merged:
        merged = Reaction("merged", ["merged"], f"PR #{pr.number} was merged", sha=pr.head_sha)
        merged.data["merge_commit"] = pr.merge_commit_sha
        return _fresh([merged], done)
    if pr.state == "closed":
        why = f"PR #{pr.number} was closed without a merge"
        return _fresh([Reaction("closed", ["closed"], why, sha=pr.head_sha)], done)
    out = _ci(obs) + _reviews(obs)
    if not out:
        out = _ready_to_merge(obs, merge, approvals)
    if not out and quiet_s >= float(settings(config, "stuck").get("after_s") or 0) > 0:
        out = [
            Reaction(
                "stuck",
                [f"stuck:{pr.head_sha}"],
                f"PR #{pr.number}: nothing has changed for {quiet_s / 60:.0f} min",
                sha=pr.head_sha,
            )
        ]
    return _fresh(out, done)


def _fresh(reactions: list[Reaction], done: set[str]) -> list[Reaction]:
    """Reactions with a fingerprint not yet applied (only those fingerprints kept)."""
    out = []
    for r in reactions:
        new = [f for f in r.fingerprints if f not in done]
        if new:
            r.fingerprints = new
            out.append(r)
    return out


def _ci(obs: Observation) -> list[Reaction]:
    pr = obs.pr
    failing = [c for c in obs.checks if c.failed]
    if not failing:
        return []
    base_failing = {c.name for c in obs.base_checks if c.failed}
    mine = [c for c in failing if c.name not in base_failing]
    out = []
    if len(mine) < len(failing):
        names = sorted(c.name for c in failing if c.name in base_failing)
        out.append(
            Reaction(
                "base_red",
                [f"base:{obs.base_sha}:{','.join(names)}"],
                f"PR #{pr.number}: {', '.join(names)} fail on {pr.base_ref} "
                f"({str(obs.base_sha)[:10]}) too: the base branch is red, not the agent's work",
                sha=pr.head_sha,
            )
        )
    if mine:
        failed = ", ".join(c.name for c in mine)
        out.append(
            Reaction(
                "ci_failed",
                [f"ci:{pr.head_sha}:{c.name}" for c in mine],
                f"PR #{pr.number}: check(s) {failed} failed on {pr.head_sha[:10]}",
                feedback=_ci_feedback(pr.number, pr.head_sha, mine),
                sha=pr.head_sha,
            )
        )
    return out


def _ci_feedback(number: int, sha: str, checks: list[Check]) -> str:
    parts = [f"CI failed on PR #{number} at {sha[:10]}:"]
    for c in checks:
        parts.append(f"\n- **{c.name}**: {c.conclusion}" + (f" ({c.url})" if c.url else ""))
        excerpt = "\n".join(c.log_excerpt.rstrip().splitlines()[-EXCERPT_LINES:])
        if excerpt:
            parts.append(f"\n```\n{excerpt}\n```")
    return "\n".join(parts)


def _reviews(obs: Observation) -> list[Reaction]:
    pr = obs.pr
    out = []
    for review in obs.reviews:
        if review.state != "CHANGES_REQUESTED":
            continue
        comments = [c for c in obs.comments if c.review_id == review.id]
        lines = [f"{review.user} requested changes on PR #{pr.number}:"]
        if review.body.strip():
            lines.append(f"\n{review.body.strip()}")
        for c in comments:
            where = f"{c.path}:{c.line}" if c.line else c.path
            lines.append(f"\n- `{where}`: {c.body.strip()}")
        out.append(
            Reaction(
                "changes_requested",
                [f"review:{review.id}"],
                f"PR #{pr.number}: {review.user} requested changes (review {review.id})",
                feedback="\n".join(lines),
                sha=pr.head_sha,
            )
        )
    return out


def approved(obs: Observation) -> list[str]:
    """Who approves the PR now: each reviewer's latest verdict (a later request for changes
    or a dismissal withdraws an approval)."""
    latest: dict[str, str] = {}
    for review in obs.reviews:  # oldest first, as the forge lists them
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user] = review.state
    return sorted(u for u, s in latest.items() if s == "APPROVED")


def green(obs: Observation) -> bool:
    """Every check on the head commit completed and passed (no check at all is green)."""
    return all(c.passed for c in obs.checks)


def _ready_to_merge(obs: Observation, merge: str, approvals: int) -> list[Reaction]:
    pr = obs.pr
    who = approved(obs)
    if pr.draft or len(who) < approvals or not green(obs):
        return []
    if pr.mergeable_state in ("dirty", "blocked", "behind"):
        return []  # a conflict or a rule of the forge: the merge attempt would fail
    by = f"approved by {', '.join(who)}" if who else "no approval required"
    if merge == "auto":
        return [Reaction("merge", [f"merge:{pr.head_sha}"], f"PR #{pr.number} is green and "
                         f"{by}: merging {pr.head_sha[:10]}", sha=pr.head_sha)]  # fmt: skip
    return [
        Reaction(
            "merge_waiting",
            [f"manual:{pr.head_sha}"],
            f"PR #{pr.number} is green and {by}: a person merges it ({pr.url})",
            sha=pr.head_sha,
        )
    ]
