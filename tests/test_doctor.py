"""The janitor: every invariant a crash can break is found, and repaired with --fix."""

from __future__ import annotations

import os
from pathlib import Path

from aof import FixedClock, Fleet, State
from aof.files import cardfile
from aof.model.task import STATES

from .conftest import Cli, git, git_clean


def where(fleet: Fleet, tid: str) -> list[str]:
    return sorted(p.parent.name for p in fleet.root.glob(f"tasks/*/{tid}*.md"))


def test_clean_root_has_no_problems(fleet: Fleet, run: Cli) -> None:
    fleet.create_task("x", ready=True)
    assert run.json("doctor") == {"ok": True, "problems": []}


def test_interrupted_move_is_rolled_forward(fleet: Fleet) -> None:
    """Crash between the decisive rename and installing the new content (DESIGN 4)."""
    t = fleet.create_task("x", ready=True)
    old_text = t.path.read_text()
    card = cardfile.read(t.path)
    lease = {
        "holder": "a",
        "token": "1-abcdefgh",
        "acquired": "2026-11-21T09:00:00Z",
        "expires": "2026-11-21T09:15:00Z",
    }
    new_text = cardfile.render(card, {**card.meta, "attempts": 1, "fence": 1, "lease": lease})
    dst = fleet.root / "tasks" / "in-progress" / t.path.name
    # Re-enact move_rewrite up to step 2, as a dead process (pid 999999) would leave it.
    tmp = (
        dst.parent
        / f".{dst.name}.{cardfile.MOVE_TAG}{cardfile.content_hash(old_text)}.999999.ab12.tmp"
    )
    tmp.write_text(new_text)
    os.rename(t.path, dst)
    report = fleet.doctor(fix=False)
    assert [p.kind for p in report.problems if p.kind == "temp"] == ["temp"]
    fixed = fleet.doctor(fix=True)
    assert any("rolled an interrupted move forward" in p.message for p in fixed.problems)
    assert dst.read_text() == new_text and not tmp.exists()


def test_interrupted_move_whose_task_changed_since_is_discarded(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    tmp = t.path.parent / f".{t.path.name}.{cardfile.MOVE_TAG}{'0' * 16}.999999.ab12.tmp"
    tmp.write_text("stale content from a dead process")
    fleet.doctor(fix=True)
    assert not tmp.exists() and "stale content" not in t.path.read_text()


def test_temps_of_live_writers_are_left_alone(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    tmp = t.path.parent / f".{t.path.name}.{os.getpid()}.ab12.tmp"
    tmp.write_text("in flight")
    fleet.doctor(fix=True)
    assert tmp.exists()


def test_duplicate_is_resolved_from_the_audit_and_quarantined(fleet: Fleet, run: Cli) -> None:
    t = fleet.create_task("x", ready=True)
    old = t.path.read_text()
    # The audit says: last move was to in-progress. (A lease long enough that the CLI's
    # real clock never finds it expired: the fixture's clock is 2026-11-21T09:00Z.)
    fleet.claim(t.id, "a", ttl_s=10**9)
    t.path.write_text(old)  # e.g. a bad merge brought the old ready copy back
    assert sorted(where(fleet, t.id)) == ["in-progress", "ready"]
    out = run.json("doctor", code=1)
    assert out["problems"][0]["kind"] == "duplicate"
    fixed = run.json("doctor", "--fix")
    assert fixed["ok"]
    assert where(fleet, t.id) == ["in-progress"]
    quarantined = list((fleet.root / ".aof" / "conflicts").iterdir())
    assert len(quarantined) == 1 and quarantined[0].name.endswith(t.path.name)
    assert git_clean(fleet.root)


def test_orphaned_claim_goes_back_to_ready(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    dst = fleet.root / "tasks" / "in-progress" / t.path.name
    os.rename(t.path, dst)  # a claimant died after the rename, before writing its lease
    fleet.doctor(fix=True)
    assert where(fleet, t.id) == ["ready"]
    assert git_clean(fleet.root)


def test_expired_lease_returns_to_ready_then_deadletter(fleet: Fleet, clock: FixedClock) -> None:
    t = fleet.create_task("x", ready=True)
    ttl = fleet.config.scheduler["lease_ttl_s"]
    for attempt in range(1, fleet.config.scheduler["max_attempts"] + 1):
        fleet.claim(t.id, "sleepy")
        clock.advance(ttl - 1)
        assert fleet.doctor(fix=True).problems == []  # not yet expired
        clock.advance(2)
        report = fleet.doctor(fix=True)
        expected = "deadletter" if attempt == fleet.config.scheduler["max_attempts"] else "ready"
        assert report.ok and f"moved to {expected}" in report.problems[0].message
        assert where(fleet, t.id) == [expected]
    last = fleet.get_task(t.id)
    assert "lease of sleepy expired" in last.meta["last_error"]
    actions = [r["action"] for r in fleet.audit.records() if r["entity"]["id"] == t.id]
    assert actions.count("lease_expired") == 3


def test_heartbeat_keeps_a_lease_alive(fleet: Fleet, clock: FixedClock) -> None:
    t = fleet.create_task("x", ready=True)
    tok = fleet.claim(t.id, "busy").lease["token"]  # type: ignore[index]
    ttl = fleet.config.scheduler["lease_ttl_s"]
    head = git(fleet.root, "rev-parse", "HEAD")
    for _ in range(3):
        clock.advance(ttl - 10)
        fleet.heartbeat(t.id, tok)
        assert fleet.doctor(fix=True).problems == []
    assert git(fleet.root, "rev-parse", "HEAD") == head  # heartbeats make no commits
    clock.advance(ttl + 1)
    assert fleet.doctor(fix=True).problems[0].fixed
    assert fleet.get_task(t.id).state == State.READY


def test_lease_outside_in_progress_is_removed(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    done = fleet.claim(t.id, "a")
    text = done.path.read_text()
    target = fleet.root / "tasks" / "done" / t.path.name
    target.write_text(text)  # done, but the lease survived (content step never ran)
    done.path.unlink()
    fleet.doctor(fix=True)
    assert fleet.get_task(t.id).lease is None


def test_uncommitted_changes_are_committed_with_an_audit_record(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    t.path.write_text(t.path.read_text().replace("title: x", "title: edited by hand"))
    report = fleet.doctor(fix=True)
    assert report.ok and "committed 1 leftover path" in report.problems[0].message
    assert git_clean(fleet.root)
    assert [r["action"] for r in fleet.audit.records()][-1] == "recovered"


def test_every_state_directory_exists_after_init(root: Path) -> None:
    for state in STATES:
        assert (root / "tasks" / state.value).is_dir()
