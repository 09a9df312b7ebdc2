"""The forge poller against a fake GitHub and a bare remote, one round at a time: the branch
pushed and the PR opened, a red check sent back once (also across a crash between seeing it
and reacting), a merge only at the head seen green, a moved head not merged, a spent rate
limit waited out, a 304 that changes nothing, and a forge that is not there."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from aof import Fleet
from aof.forge.base import NoToken
from aof.forge.github import GitHubForge
from aof.forge.poller import CHECKS_EVERY, ForgePoller
from aof.forge.status import forge_status
from aof.journal.audit import AuditLog
from aof.model.task import State

from .conftest import Cli
from .forge_setup import REPO, shipping_fleet
from .support.fakegithub import TOKEN, FakeGitHub, fake_github, push_branch, rev
from .test_gates_command import commit_work

__all__ = ["fake_github"]
PR_ONLY = "  - pr: {merge: auto, approvals: 1}\n"
LOG = logging.getLogger("test-forge")


@pytest.fixture(autouse=True)
def _root_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FLEET_ROOT", str(root))


def poller(fleet: Fleet, fake: FakeGitHub) -> ForgePoller:
    p = ForgePoller(fleet, LOG, forge=GitHubForge(fake.url, token=TOKEN))
    p.last_poll.clear()
    return p


def due(p: ForgePoller) -> None:
    """One round with every PR due (the poll interval is the test's to decide)."""
    p.last_poll.clear()
    p.round()


def at_pr_gate(fleet: Fleet, clone: Path, title: str) -> str:
    t = fleet.create_task(title, project="api", ready=True)
    tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    commit_work(clone, t.id, f"{title} v1")
    fleet.complete(t.id, token=tok, summary="done")
    assert fleet.get_task(t.id).meta["gate"]["kind"] == "pr"
    return t.id


def actions(root: Path, fleet: Fleet, tid: str) -> list[str]:
    return [r["action"] for r in AuditLog(root, fleet.clock).query(task=tid)]


def test_the_branch_is_pushed_a_pr_opened_and_a_red_check_sent_back_once(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Limit the rate")
    p = poller(fleet, fake_github)
    due(p)
    head = rev(bare, f"aof/{tid}")
    [pull] = fake_github.repo(REPO).pulls.values()
    assert pull.head == f"aof/{tid}" and head is not None
    pr = fleet.get_task(tid).meta["gate"]["pr"]
    assert pr["number"] == pull.number and pr["pushed"] == head
    assert f"aof task `{tid}`" in pull.body
    fake_github.add_check(REPO, head, "unit", "failure", log="collected 3\nE assert 101 <= 100\n")
    due(p)
    task = fleet.get_task(tid)
    assert task.state == State.READY and "E assert 101 <= 100" in task.body
    assert "**unit**: failure" in task.body
    due(p)  # the condition persists: nothing more (the task is not at the gate anyway)
    assert actions(root, fleet, tid).count("pr_ci_failed") == 1
    assert forge_status(fleet)["prs"] == []


def test_a_review_that_leaves_the_pr_unmoved_is_still_seen_within_a_few_rounds(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """Reviews of a PR whose updated_at did not move (its checks all completed) are read
    again every CHECKS_EVERY rounds, so a review that left it unmoved is not missed."""
    bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Split the handler")
    p = poller(fleet, fake_github)
    due(p)  # pushed and opened
    fake_github.add_check(REPO, str(rev(bare, f"aof/{tid}")), "unit", "success")
    due(p)  # observed: green, no review yet
    [number] = list(fake_github.repo(REPO).pulls)
    fake_github.add_review(REPO, number, "CHANGES_REQUESTED", "Please split it", bump=False)
    for _ in range(CHECKS_EVERY):
        if fleet.get_task(tid).state != State.REVIEW:
            break
        due(p)
    task = fleet.get_task(tid)
    assert task.state == State.READY and "Please split it" in task.body
    assert actions(root, fleet, tid).count("pr_changes_requested") == 1


def test_a_crash_between_seeing_a_red_check_and_reacting_reacts_once_after_restart(
    fleet: Fleet,
    run: Cli,
    root: Path,
    tmp_path: Path,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Crash")
    first = poller(fleet, fake_github)
    due(first)
    fake_github.add_check(REPO, str(rev(bare, f"aof/{tid}")), "unit", "failure", log="E boom\n")

    def killed(*args: object, **kw: object) -> None:
        raise SystemExit("killed before the reaction was written")

    monkeypatch.setattr(fleet.prs, "react", killed)
    with pytest.raises(SystemExit):
        due(first)
    monkeypatch.undo()
    assert fleet.get_task(tid).state == State.REVIEW  # nothing was applied
    restarted = poller(Fleet(root, actor="scheduler:forge"), fake_github)
    due(restarted)
    due(restarted)
    assert fleet.get_task(tid).state == State.READY
    assert actions(root, fleet, tid).count("pr_ci_failed") == 1


def test_approved_and_green_merges_at_the_head_seen_and_a_moved_head_is_not_merged(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Race")
    p = poller(fleet, fake_github)
    due(p)
    number = fleet.get_task(tid).meta["gate"]["pr"]["number"]
    seen = str(rev(bare, f"aof/{tid}"))
    fake_github.add_check(REPO, seen, "unit", "success")
    fake_github.add_review(REPO, number, "APPROVED", "ship it")
    forge = p.forge()
    merge = forge.merge

    def moved_then_merge(repo: str, n: int, *, sha: str, method: str):  # type: ignore[no-untyped-def]
        push_branch(bare, f"aof/{tid}", {"late.txt": "pushed after the approval\n"})
        return merge(repo, n, sha=sha, method=method)

    forge.merge = moved_then_merge  # type: ignore[method-assign]
    due(p)
    assert not fake_github.pull(REPO, number).merged
    task = fleet.get_task(tid)
    assert task.state == State.READY and "was refused" in task.body
    assert actions(root, fleet, tid)[-1] == "pr_merge_conflict"


def test_a_merge_records_its_commit_and_closes_the_issue(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    issue = fake_github.add_issue(REPO, "Add rate limiting", "100 rps")
    import os

    os.environ["GITHUB_TOKEN"] = TOKEN
    try:
        [row] = run.json("issues", "import", "--project", "api", "--ready")
    finally:
        del os.environ["GITHUB_TOKEN"]
    tid = row["task"] if "task" in row else row["id"]
    tok = str((fleet.claim(tid, "coder-1").lease or {})["token"])
    commit_work(clone, tid, "limiter")
    fleet.complete(tid, token=tok, summary="Added the limiter")
    p = poller(fleet, fake_github)
    due(p)
    number = fleet.get_task(tid).meta["gate"]["pr"]["number"]
    assert f"Closes #{issue}" in fake_github.pull(REPO, number).body
    head = str(rev(bare, f"aof/{tid}"))
    fake_github.add_check(REPO, head, "unit", "success")
    fake_github.add_review(REPO, number, "APPROVED")
    due(p)
    task = fleet.get_task(tid)
    pull = fake_github.pull(REPO, number)
    assert task.state == State.DONE and pull.merged
    assert task.meta["gate"]["pr"]["merge_commit"] == pull.merge_commit_sha == rev(bare, "main")
    assert fake_github.repo(REPO).issues[issue].state == "closed"


def test_a_spent_rate_limit_pauses_polling_and_a_304_changes_nothing(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    _bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Budget")
    p = poller(fleet, fake_github)
    due(p)
    due(p)  # observes: every answer new
    before = actions(root, fleet, tid)
    fake_github.clear_log()
    due(p)  # nothing changed: every GET answers 304, and nothing is applied
    assert fake_github.requests and all(r.status == 304 for r in fake_github.requests)
    assert p.forge().budget.not_modified >= len(fake_github.requests)
    assert actions(root, fleet, tid) == before
    fake_github.limit(time.time() + 3600)
    due(p)
    assert p.paused_until > time.time() + 3000
    fake_github.clear_log()
    due(p)
    due(p)
    assert fake_github.requests == []  # waited out, no request sent
    assert forge_status(fleet)["paused_until"] is not None
    assert fleet.get_task(tid).state == State.REVIEW


def test_a_forge_that_is_down_an_unknown_repo_and_no_token_leave_the_task_as_it_is(
    fleet: Fleet,
    run: Cli,
    root: Path,
    tmp_path: Path,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _bare, clone = shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    tid = at_pr_gate(fleet, clone, "Weather")
    fake_github.down()
    p = poller(fleet, fake_github)
    due(p)
    assert fleet.get_task(tid).state == State.REVIEW
    fake_github.up()
    run("project", "update", "api", "--repo", "acme/nowhere")
    due(p)
    status = forge_status(fleet)
    assert status["prs"][0]["error"] and "acme/nowhere" in status["prs"][0]["error"]
    assert fleet.get_task(tid).state == State.REVIEW
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-gh"))
    with pytest.raises(NoToken, match=r"GITHUB_TOKEN.*GH_TOKEN.*gh auth token"):
        GitHubForge(fake_github.url).find_pr(REPO, "x")


def test_a_project_that_names_labels_has_its_issues_imported_every_poll_once(
    fleet: Fleet, run: Cli, root: Path, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    shipping_fleet(run, root, tmp_path, fake_github, gates=PR_ONLY)
    run("project", "update", "api", "--import-label", "aof")
    wanted = fake_github.add_issue(REPO, "Fix the login loop", "It loops", labels=["aof", "bug"])
    fake_github.add_issue(REPO, "Someday", "later", labels=["idea"])
    p = poller(fleet, fake_github)
    due(p)
    due(p)
    rows = [t for t in fleet.list_tasks(states=["backlog"]) if t.get("issue")]
    assert [(t["title"], t["issue"]) for t in rows] == [("Fix the login loop", f"{REPO}#{wanted}")]
