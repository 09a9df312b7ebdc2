"""Shipping through the forge, end to end: a real daemon, the demo coder, a fake GitHub on
loopback and a bare repository as the remote. An issue becomes a task; the agent works; the
gates pass; the branch is pushed and a PR opened; CI goes red and the agent's next attempt has
the failing check and its log in its task; CI goes green and a reviewer approves; aof merges
the head it saw green; the task is done with the merge commit and the issue is closed."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aof import Fleet
from aof.model.task import State

from .conftest import Cli
from .forge_setup import REPO, env_with_token, shipping_fleet
from .support.fakegithub import FakeGitHub, fake_github, rev

__all__ = ["fake_github"]
pytestmark = pytest.mark.slow


def wait_for(what: str, predicate: Callable[[], object], root: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    log = root / "runs" / "daemon.log"
    tail = log.read_text()[-4000:] if log.exists() else "(no log)"
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def daemon(aof_bin: str, root: Path) -> subprocess.Popen[bytes]:
    (root / "runs").mkdir(exist_ok=True)
    with open(root / "runs" / "daemon.stderr", "ab") as err:
        return subprocess.Popen(
            [aof_bin, "--root", str(root), "daemon", "--interval", "0.3", "--quiet"],
            env=env_with_token(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=90)


def state(root: Path, tid: str) -> State:
    return Fleet(root).get_task(tid).state


def test_an_issue_ships_through_a_pull_request_red_then_green_then_merged(
    aof_bin: str, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    bare, _clone = shipping_fleet(run, root, tmp_path, fake_github)
    issue = fake_github.add_issue(REPO, "Add rate limiting", "Limit /v1 to 100 requests a second.")
    out = subprocess.run(
        [aof_bin, "--root", str(root), "issues", "import", "--project", "api", "--ready", "--json"],
        env=env_with_token(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tid = next(t for t in Fleet(root).list_tasks() if t["title"] == "Add rate limiting")["id"]
    assert json.loads(out)
    proc = daemon(aof_bin, root)
    try:
        repo = fake_github.repo(REPO)
        wait_for("the pull request", lambda: repo.pulls, root)
        [number] = list(repo.pulls)
        first = str(rev(bare, f"aof/{tid}"))
        fake_github.add_check(
            REPO,
            first,
            "unit",
            "failure",
            log="collected 12 items\nFAILED test_limit - assert 101 <= 100\n",
        )
        # The agent's next attempt commits again; the gates pass; the PR gets the new head.
        wait_for("a new head", lambda: rev(bare, f"aof/{tid}") not in (None, first), root)
        task = Fleet(root).get_task(tid)
        assert "FAILED test_limit - assert 101 <= 100" in task.body and "**unit**" in task.body
        second = str(rev(bare, f"aof/{tid}"))
        wait_for("the task back at its pr gate", lambda: state(root, tid) == State.REVIEW, root)
        fake_github.add_check(REPO, second, "unit", "success")
        fake_github.add_review(REPO, number, "APPROVED", "Looks right")
        wait_for("done", lambda: state(root, tid) == State.DONE, root)
    finally:
        stop(proc)
    task = Fleet(root).get_task(tid)
    pull = fake_github.pull(REPO, number)
    assert pull.merged and pull.merge_commit_sha == task.meta["gate"]["pr"]["merge_commit"]

    def tree(sha: object) -> str:
        return subprocess.run(
            ["git", "rev-parse", f"{sha}^{{tree}}"],
            cwd=bare,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert tree(pull.merge_commit_sha) == tree(second)  # squashed: the head seen green
    assert repo.issues[issue].state == "closed"
    story = run("history", tid).stdout
    for word in ("pr_opened", "pr_ci_failed", "pr_updated", "pr_merged"):
        assert word in story
    assert task.meta["attempts"] == 2


def test_changes_requested_reach_the_agent_and_the_budget_ends_in_a_person(
    aof_bin: str, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    extra = (
        "reactions:\n  changes_requested: {retries: 1}\n"
        "notify:\n  channels:\n    log: 'file:notifications.jsonl'\n"
        "  rules:\n    - events: [rejected_cap]\n      channels: [log]\n"
    )
    bare, _clone = shipping_fleet(run, root, tmp_path, fake_github, extra=extra)
    tid = run.json("task", "create", "Tidy the handler", "--project", "api", "--ready")["id"]
    proc = daemon(aof_bin, root)
    try:
        repo = fake_github.repo(REPO)
        wait_for("the pull request", lambda: repo.pulls, root)
        [number] = list(repo.pulls)
        first = rev(bare, f"aof/{tid}")
        rid = fake_github.add_review(REPO, number, "CHANGES_REQUESTED", "Please split it")
        fake_github.add_comment(REPO, number, "api/handler.py", 42, "Too long", review_id=rid)
        wait_for("a new head", lambda: rev(bare, f"aof/{tid}") not in (None, first), root)
        body = Fleet(root).get_task(tid).body
        assert "Please split it" in body and "`api/handler.py:42`: Too long" in body
        wait_for("the task back at its pr gate", lambda: state(root, tid) == State.REVIEW, root)
        fake_github.add_review(REPO, number, "CHANGES_REQUESTED", "Still too long")
        wait_for("blocked", lambda: state(root, tid) == State.BLOCKED, root)
        note = root / ".aof" / "notifications.jsonl"
        wait_for("the notification", note.exists, root, timeout=30)
    finally:
        stop(proc)
    sent = [json.loads(x) for x in note.read_text().splitlines()]
    assert [(m["event"], m["task"]) for m in sent] == [("rejected_cap", tid)]
    reason = Fleet(root).get_task(tid).meta["blocked"]["reason"]
    assert "reactions.changes_requested.retries" in reason
