"""The reactions to a pull request's condition: a table of conditions and what each calls
for, fingerprints that make a persisting condition react once, and a new head react again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aof.forge.base import Check, Observation, PullRequest, Review, ReviewComment
from aof.forge.reactions import approved, derive, green, settings

HEAD, HEAD2, BASE = "a" * 40, "b" * 40, "c" * 40


def pr(**kw: Any) -> PullRequest:
    base = {
        "number": 7,
        "url": "https://github.example/o/r/pull/7",
        "state": "open",
        "merged": False,
        "head_sha": HEAD,
        "head_ref": "aof/t-1",
        "base_ref": "main",
    }
    return PullRequest(**{**base, **kw})


def check(name: str, conclusion: str | None = "success", status: str = "completed") -> Check:
    return Check(name, status, conclusion, url=f"https://ci/{name}", log_excerpt=f"{name} log\nE1")


def review(rid: int, user: str, state: str, body: str = "") -> Review:
    return Review(rid, user, state, body, HEAD)


def obs(**kw: Any) -> Observation:
    return Observation(pr=kw.pop("pr", pr()), base_sha=BASE, **kw)


CASES: list[tuple[str, Observation, dict[str, Any], list[str]]] = [
    ("merged by a person", obs(pr=pr(merged=True, state="closed")), {}, ["merged"]),
    ("closed without merge", obs(pr=pr(state="closed")), {}, ["closed"]),
    ("no checks, no review, approvals 1", obs(), {}, []),
    ("no checks, approvals 0, manual", obs(), {"approvals": 0}, ["merge_waiting"]),
    ("no checks, approvals 0, auto", obs(), {"approvals": 0, "merge": "auto"}, ["merge"]),
    ("a check failed", obs(checks=[check("test", "failure")]), {}, ["ci_failed"]),
    ("timed out counts as failed", obs(checks=[check("t", "timed_out")]), {}, ["ci_failed"]),
    (
        "pending check, approved",
        obs(checks=[check("t", None, "in_progress")], reviews=[review(1, "ann", "APPROVED")]),
        {"merge": "auto"},
        [],
    ),
    (
        "green and approved, auto",
        obs(checks=[check("t")], reviews=[review(1, "ann", "APPROVED")]),
        {"merge": "auto"},
        ["merge"],
    ),
    (
        "green and approved, manual",
        obs(checks=[check("t")], reviews=[review(1, "ann", "APPROVED")]),
        {},
        ["merge_waiting"],
    ),
    (
        "approved then changes requested by the same person",
        obs(
            checks=[check("t")],
            reviews=[review(1, "ann", "APPROVED"), review(2, "ann", "CHANGES_REQUESTED", "no")],
        ),
        {"merge": "auto"},
        ["changes_requested"],
    ),
    (
        "two approvals needed, one given",
        obs(checks=[check("t")], reviews=[review(1, "ann", "APPROVED")]),
        {"approvals": 2, "merge": "auto"},
        [],
    ),
    (
        "draft is never merged",
        obs(pr=pr(draft=True), checks=[check("t")], reviews=[review(1, "ann", "APPROVED")]),
        {"merge": "auto"},
        [],
    ),
    (
        "dirty is not merged",
        obs(
            pr=pr(mergeable_state="dirty"),
            checks=[check("t")],
            reviews=[review(1, "ann", "APPROVED")],
        ),
        {"merge": "auto"},
        [],
    ),
    (
        "failing on base too: base red, not the agent",
        obs(checks=[check("lint", "failure")], base_checks=[check("lint", "failure")]),
        {},
        ["base_red"],
    ),
    (
        "one failing on base, one only here",
        obs(
            checks=[check("lint", "failure"), check("unit", "failure")],
            base_checks=[check("lint", "failure")],
        ),
        {},
        ["base_red", "ci_failed"],
    ),
    ("a base without checks is not red", obs(checks=[check("unit", "failure")]), {}, ["ci_failed"]),
    (
        "changes requested",
        obs(reviews=[review(5, "bob", "CHANGES_REQUESTED", "fix it")]),
        {},
        ["changes_requested"],
    ),
    ("a comment-only review is nothing", obs(reviews=[review(5, "bob", "COMMENTED")]), {}, []),
    (
        "ci red and changes requested",
        obs(checks=[check("t", "failure")], reviews=[review(5, "bob", "CHANGES_REQUESTED")]),
        {},
        ["ci_failed", "changes_requested"],
    ),
]


@pytest.mark.parametrize(("what", "seen", "gate", "names"), CASES, ids=[c[0] for c in CASES])
def test_a_condition_calls_for_its_reactions(
    what: str, seen: Observation, gate: dict[str, Any], names: list[str]
) -> None:
    assert [r.name for r in derive(seen, set(), **gate)] == names


def test_a_persisting_condition_reacts_once_and_a_new_head_reacts_again() -> None:
    red = obs(checks=[check("unit", "failure")])
    [first] = derive(red, set())
    assert first.fingerprints == [f"ci:{HEAD}:unit"]
    assert derive(red, set(first.fingerprints)) == []
    moved = obs(pr=pr(head_sha=HEAD2), checks=[check("unit", "failure")])
    [again] = derive(moved, set(first.fingerprints))
    assert again.fingerprints == [f"ci:{HEAD2}:unit"]


def test_a_review_reacts_once_per_id_even_while_it_stays_the_latest() -> None:
    seen = obs(reviews=[review(9, "bob", "CHANGES_REQUESTED")])
    [r] = derive(seen, set())
    assert derive(seen, {"review:9"}) == [] and r.fingerprints == ["review:9"]
    later = obs(
        reviews=[review(9, "bob", "CHANGES_REQUESTED"), review(11, "bob", "CHANGES_REQUESTED")]
    )
    assert [x.fingerprints for x in derive(later, {"review:9"})] == [["review:11"]]


def test_feedback_names_checks_urls_log_excerpts_and_comment_files_and_lines() -> None:
    seen = obs(
        checks=[check("unit", "failure")],
        reviews=[review(5, "bob", "CHANGES_REQUESTED", "Please handle errors")],
        comments=[ReviewComment(1, 5, "bob", "api/limit.py", 42, "Off by one here")],
    )
    ci, changes = derive(seen, set())
    assert "**unit**: failure (https://ci/unit)" in ci.feedback and "unit log\nE1" in ci.feedback
    assert HEAD[:10] in ci.feedback
    assert "Please handle errors" in changes.feedback
    assert "`api/limit.py:42`: Off by one here" in changes.feedback


def test_merge_waits_for_the_head_it_saw_and_stuck_follows_a_quiet_pr() -> None:
    seen = obs(checks=[check("t")], reviews=[review(1, "ann", "APPROVED")])
    [m] = derive(seen, set(), merge="auto")
    assert m.sha == HEAD and m.fingerprints == [f"merge:{HEAD}"]
    quiet = obs(checks=[check("t", None, "queued")])
    assert derive(quiet, set(), quiet_s=30) == []
    [s] = derive(quiet, set(), quiet_s=7200)
    assert s.name == "stuck" and derive(quiet, {f"stuck:{HEAD}"}, quiet_s=7200) == []
    cfg = {"reactions": {"stuck": {"after_s": 0}}}
    assert derive(quiet, set(), quiet_s=7200, config=cfg) == []  # 0 turns it off


def test_approvals_follow_each_reviewers_latest_verdict_and_no_checks_is_green() -> None:
    seen = obs(
        reviews=[
            review(1, "ann", "APPROVED"),
            review(2, "bob", "APPROVED"),
            review(3, "ann", "DISMISSED"),
        ]
    )
    assert approved(seen) == ["bob"] and green(obs())
    assert not green(obs(checks=[check("t", None, "queued")]))
    assert settings({"reactions": {"ci_failed": {"retries": 5}}}, "ci_failed") == {
        "action": "send_back",
        "retries": 5,
    }


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("reactions:\n  ci_fail: {retries: 2}\n", "reactions.ci_fail: is not a reaction"),
        ("reactions:\n  ci_failed: {retries: -1}\n", "reactions.ci_failed.retries: must be"),
        ("reactions:\n  ci_failed: {action: merge}\n", "reactions.ci_failed.action: must be"),
        ("reactions:\n  stuck: {after: 60}\n", "reactions.stuck.after: is not a setting"),
        ("reactions: 3\n", "reactions: must be a mapping"),
    ],
)
def test_reaction_settings_are_checked_when_aof_yaml_is_loaded(
    root: Path, yaml: str, message: str
) -> None:
    from aof.errors import ConfigError
    from aof.model.config import load_config

    (root / "aof.yaml").write_text((root / "aof.yaml").read_text() + yaml)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(root)
