"""A task's team and project must exist, a project's team governs its tasks, and the caps on
attempts and review rejections hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from aof import FixedClock, Fleet, InvalidTransition, State, ValidationError

from .conftest import Cli, git_clean


@pytest.fixture
def owned(run: Cli, tmp_path: Path) -> Cli:
    """A fleet with team growth (project site) and team platform."""
    run(
        "team",
        "create",
        "--slug",
        "growth",
        "--name",
        "Growth",
        "--mission",
        "m",
        "--ownership",
        "company",
    )
    run(
        "team",
        "create",
        "--slug",
        "platform",
        "--name",
        "Platform",
        "--mission",
        "m",
        "--ownership",
        "company",
    )
    run(
        "project",
        "create",
        "--team",
        "growth",
        "--slug",
        "site",
        "--root-path",
        str(tmp_path / "site"),
    )
    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "nobody"], "team: no team 'nobody' (create it with `aof team create`"),
        (["--project", "nowhere"], "project: no project 'nowhere' (create it with `aof project"),
        (
            ["--team", "platform", "--project", "site"],
            "team: 'platform' is not the team of project 'site' ('growth')",
        ),
    ],
)
def test_create_refuses_unknown_or_mismatched_owners(
    owned: Cli, root: Path, args: list[str], message: str
) -> None:
    before = sorted(p.name for p in (root / "tasks").rglob("*.md"))
    err = owned("task", "create", "x", *args, code=6).stderr
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in (root / "tasks").rglob("*.md")) == before  # nothing written
    assert git_clean(root)


def test_project_alone_fills_in_its_team(owned: Cli) -> None:
    task = owned.json("task", "create", "x", "--project", "site", "--ready")
    assert owned.json("task", "show", task["id"])["team"] == "growth"


def test_edit_checks_owners_too(owned: Cli) -> None:
    tid = owned.json("task", "create", "x")["id"]
    err = owned("task", "edit", tid, "--set", "project=nowhere", code=6).stderr
    assert "project: no project 'nowhere'" in err
    owned("task", "edit", tid, "--set", "project=site")
    assert owned.json("task", "show", tid)["team"] == "growth"


def test_a_paused_team_holds_its_projects_tasks(owned: Cli, root: Path) -> None:
    """The team of the task's project governs it, even when the file names no team (a task
    written by hand, or before teams were checked)."""
    owned("schedule", "create", "--team", "growth", "--timezone", "UTC", "--policy", "manual_only")
    tid = owned.json("task", "create", "x", "--ready")["id"]
    path = next((root / "tasks" / "ready").glob(f"{tid}*.md"))
    path.write_text(path.read_text().replace("attempts: 0", "attempts: 0\nproject: site"))
    plan = owned.json("plan")
    assert [a for a in plan["actions"] if a["kind"] == "dispatch"] == []
    (reason,) = [w["reason"] for w in plan["waiting"] if w["task"] == tid]
    assert reason.startswith("team growth is stopped: schedule growth is manual_only")


def _spend_attempts(fleet: Fleet, tid: str, n: int) -> None:
    for _ in range(n):
        tok = fleet.claim(tid, "a").lease["token"]  # type: ignore[index]
        fleet.release(tid, token=tok)


def test_a_claim_past_max_attempts_is_refused(fleet: Fleet, run: Cli) -> None:
    tid = fleet.create_task("x", ready=True, fields={"max_attempts": 2}).id
    _spend_attempts(fleet, tid, 2)
    with pytest.raises(InvalidTransition, match=r"its 2 attempt\(s\) are used up"):
        fleet.claim(tid, "a")
    (reason,) = [w["reason"] for w in run.json("plan")["waiting"] if w["task"] == tid]
    assert reason.startswith("its 2 attempt(s) are used up")
    fleet.edit_task(tid, set_fields={"max_attempts": 3})
    assert fleet.claim(tid, "a").meta["attempts"] == 3


def _review(fleet: Fleet, root: Path, tid: str) -> None:
    tok = fleet.claim(tid, "a").lease["token"]  # type: ignore[index]
    assert fleet.complete(tid, token=tok, summary="done").state == State.REVIEW


def test_rejections_are_capped_and_do_not_use_up_attempts(
    fleet: Fleet, root: Path, clock: FixedClock
) -> None:
    (root / "workflows" / "reviewed.yaml").write_text("gates:\n  - code-review\n")
    tid = fleet.create_task("x", ready=True, fields={"workflow": "reviewed"}).id
    for n in (1, 2):
        _review(fleet, root, tid)
        assert fleet.reject(tid, feedback=f"round {n}").state == State.READY
    # Three claims so far with max_attempts 3, but two of them reached review: no failure.
    _review(fleet, root, tid)
    third = fleet.reject(tid, feedback="round 3")
    assert third.state == State.BLOCKED
    assert third.meta["blocked"]["reason"] == (
        "rejected 3 time(s) (max_rejections 3): a person decides"
    )
    assert third.meta["attempts"] == 3


def test_max_rejections_from_workflow_then_config(fleet: Fleet, root: Path) -> None:
    (root / "workflows" / "strict.yaml").write_text("max_rejections: 1\ngates: [qa]\n")
    (root / "workflows" / "loose.yaml").write_text("gates: [qa]\n")
    strict = fleet.create_task("s", ready=True, fields={"workflow": "strict"}).id
    _review(fleet, root, strict)
    assert fleet.reject(strict, feedback="no").state == State.BLOCKED
    config = root / "aof.yaml"
    config.write_text(config.read_text().replace("max_rejections: 3", "max_rejections: 2"))
    loose_fleet = Fleet(root, clock=fleet.clock, actor="human:tester")
    loose = loose_fleet.create_task("l", ready=True, fields={"workflow": "loose"}).id
    _review(loose_fleet, root, loose)
    assert loose_fleet.reject(loose, feedback="no").state == State.READY
    _review(loose_fleet, root, loose)
    assert loose_fleet.reject(loose, feedback="no").state == State.BLOCKED


def test_bad_max_rejections_is_named(root: Path) -> None:
    config = root / "aof.yaml"
    config.write_text(config.read_text().replace("max_rejections: 3", "max_rejections: 0"))
    with pytest.raises(Exception, match=r"workflow.max_rejections: must be a whole number >= 1"):
        Fleet(root).config  # noqa: B018


def test_validation_error_names_the_file_for_edits(owned: Cli, root: Path) -> None:
    tid = owned.json("task", "create", "x")["id"]
    with pytest.raises(ValidationError, match=r"tasks/backlog/t-.*\.md: team: no team 'x'"):
        Fleet(root, actor="human:t").edit_task(tid, set_fields={"team": "x"})


def test_edit_moves_a_task_to_another_team_or_project(owned: Cli) -> None:
    tid = owned.json("task", "create", "x", "--team", "platform")["id"]
    owned("task", "edit", tid, "--project", "site")  # the project's team comes along
    shown = owned.json("task", "show", tid)
    assert (shown["team"], shown["project"]) == ("growth", "site")
    err = owned("task", "edit", tid, "--team", "nobody", code=6).stderr
    assert "team: no team 'nobody'" in err
    err = owned("task", "edit", tid, "--team", "platform", code=6).stderr
    assert "'platform' is not the team of project 'site' ('growth')" in err
