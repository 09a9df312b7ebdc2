"""The pr gate's side of the service: a task waits at its pull request, each reaction is
applied once (its fingerprints are written with it), send-backs have budgets of their own
and then hand the task to a person, a merge makes it done and a close cancels it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aof import Fleet
from aof.errors import InvalidTransition
from aof.journal.audit import AuditLog
from aof.model.task import State

from .conftest import Cli
from .test_gates_command import commit_work, project

WORKFLOW = "gates:\n  - pr: {merge: auto, method: squash, approvals: 1}\n"


@pytest.fixture(autouse=True)
def _root_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FLEET_ROOT", str(root))


def at_pr(fleet: Fleet, repo: Path, title: str) -> str:
    t = fleet.create_task(title, project="app", ready=True, fields={"workflow": "w"})
    redo(fleet, repo, t.id, "v1")
    return t.id


def redo(fleet: Fleet, repo: Path, tid: str, text: str) -> None:
    tok = str((fleet.claim(tid, "coder-1").lease or {})["token"])
    commit_work(repo, tid, text)
    fleet.complete(tid, token=tok, summary="done")


def reaction(name: str, fp: str, **kw: object) -> dict[str, object]:
    action = {"ci_failed": "send_back", "merged": "done", "closed": "cancel"}.get(name, "notify")
    return {"name": name, "action": action, "fingerprints": [fp], "reason": f"{name}!", **kw}


def test_a_task_waits_at_its_pull_request_and_ci_sends_it_back_once_per_fingerprint(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    repo = project(run, tmp_path, WORKFLOW)
    tid = at_pr(fleet, repo, "Ship it")
    task = fleet.get_task(tid)
    assert task.state == State.REVIEW and task.meta["gate"]["kind"] == "pr"
    assert task.meta["gate"]["merge"] == "auto"
    assert "pushes the branch and opens a pull request" in fleet.why(tid)
    fleet.prs.record_pr(
        tid,
        {
            "repo": "o/r",
            "number": 7,
            "url": "https://gh/o/r/pull/7",
            "head_sha": "a" * 40,
            "pushed": "a" * 40,
        },
    )
    assert "pull request #7 (https://gh/o/r/pull/7)" in fleet.why(tid)
    with pytest.raises(InvalidTransition, match="its pull request decides"):
        fleet.approve(tid)
    sent = fleet.prs.react(
        tid, reaction("ci_failed", "ci:aaa:unit", retries=3, feedback="unit failed: E1")
    )
    assert sent.state == State.READY and "unit failed: E1" in sent.body
    assert sent.meta["gate"]["pr"]["reacted"] == ["ci:aaa:unit"]
    assert sent.meta["gate"]["pr"]["number"] == 7  # the PR lives on across rounds
    with pytest.raises(InvalidTransition, match="needs it to be review"):
        fleet.prs.react(tid, reaction("ci_failed", "ci:aaa:unit", retries=3))
    redo(fleet, repo, tid, "v2")
    with pytest.raises(InvalidTransition, match="applied already"):
        fleet.prs.react(tid, reaction("ci_failed", "ci:aaa:unit", retries=3))
    task = fleet.get_task(tid)
    assert task.meta["attempts"] == 2 and task.meta["gate"]["round"] == 2
    records = AuditLog(root, fleet.clock).query(task=tid)
    assert [r["action"] for r in records].count("pr_ci_failed") == 1


def test_the_budget_runs_out_into_a_blocked_task_and_one_notification_event(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    repo = project(run, tmp_path, WORKFLOW)
    tid = at_pr(fleet, repo, "Flaky")
    fleet.prs.record_pr(tid, {"repo": "o/r", "number": 8, "url": "u", "head_sha": "a"})
    assert fleet.prs.react(tid, reaction("ci_failed", "ci:1:t", retries=1)).state == State.READY
    redo(fleet, repo, tid, "v2")
    task = fleet.prs.react(tid, reaction("ci_failed", "ci:2:t", retries=1))
    assert task.state == State.BLOCKED
    assert "reactions.ci_failed.retries" in task.meta["blocked"]["reason"]
    events = [r.get("event") for r in AuditLog(root, fleet.clock).query(task=tid)]
    assert events.count("rejected_cap") == 1 and events.count("rejected") == 1
    # A pull request's send-backs use up neither max_attempts nor max_rejections.
    assert task.meta["attempts"] == 2


def test_a_merge_makes_the_task_done_with_its_commit_and_a_close_cancels_it(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    repo = project(run, tmp_path, WORKFLOW)
    merged = at_pr(fleet, repo, "Merged")
    fleet.prs.record_pr(merged, {"repo": "o/r", "number": 9, "url": "u", "head_sha": "a"})
    done = fleet.prs.react(merged, reaction("merged", "merged", merge_commit="f" * 40, sha="a"))
    assert done.state == State.DONE and done.meta["gate"]["pr"]["merge_commit"] == "f" * 40
    assert done.meta["gate"]["history"][-1]["outcome"] == "passed"
    closed = at_pr(fleet, repo, "Closed")
    fleet.prs.record_pr(closed, {"repo": "o/r", "number": 10, "url": "u", "head_sha": "a"})
    gone = fleet.prs.react(closed, reaction("closed", "closed"))
    assert gone.state == State.CANCELLED and "closed!" in gone.body
    notice = at_pr(fleet, repo, "Base red")
    fleet.prs.record_pr(notice, {"repo": "o/r", "number": 11, "url": "u", "head_sha": "a"})
    stays = fleet.prs.react(notice, reaction("base_red", "base:b:lint"))
    assert stays.state == State.REVIEW and stays.meta["gate"]["pr"]["reacted"] == ["base:b:lint"]
