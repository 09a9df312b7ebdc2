"""The task lifecycle through the public API: every transition, every refusal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aof import (
    ClaimConflict,
    FixedClock,
    Fleet,
    InvalidTransition,
    LeaseError,
    NotFound,
    State,
    ValidationError,
)
from aof.errors import AmbiguousId, ConcurrentModification

from .conftest import git, git_clean


def states_of(fleet: Fleet, tid: str) -> list[str]:
    return sorted(p.parent.name for p in fleet.root.glob(f"tasks/*/{tid}*.md"))


def test_create_writes_one_file_in_backlog_audits_and_commits(fleet: Fleet) -> None:
    fleet.registry.create("team", "core", {"name": "Core", "mission": "m", "ownership": "company"})
    t = fleet.create_task("Write docs", priority="high", labels=["docs", "docs"], team="core")
    assert t.state == State.BACKLOG
    assert t.path.name.startswith(t.id + "-write-docs")
    assert t.meta["labels"] == ["docs"] and t.meta["team"] == "core"
    assert t.meta["created_by"] == "human:tester"
    assert states_of(fleet, t.id) == ["backlog"]
    recs = [r for r in fleet.audit.records() if r["entity"]["id"] == t.id]
    assert [(r["action"], r.get("to")) for r in recs] == [("created", "backlog")]
    assert git(fleet.root, "log", "-1", "--format=%s|%an").strip() == (
        f"task {t.id}: created in backlog (human:tester)|human:tester"
    )
    assert git_clean(fleet.root)


def test_full_happy_path_and_every_step_committed(fleet: Fleet) -> None:
    t = fleet.create_task("Ship it")
    fleet.promote(t.id)
    claimed = fleet.claim(t.id, "coder-1")
    lease = claimed.lease
    assert lease and lease["holder"] == "coder-1" and lease["token"].startswith("1-")
    assert claimed.meta["attempts"] == 1 and claimed.meta["fence"] == 1
    done = fleet.complete(t.id, token=lease["token"], summary="Shipped.")
    assert done.state == State.DONE and done.lease is None
    assert "## Completion Summary\n\nShipped." in done.body
    subjects = git(fleet.root, "log", "--format=%s").splitlines()[:4]
    assert subjects == [
        f"task {t.id}: in-progress -> done (human:tester)",
        f"task {t.id}: ready -> in-progress (agent:coder-1)",
        f"task {t.id}: backlog -> ready (human:tester)",
        f"task {t.id}: created in backlog (human:tester)",
    ]
    assert git_clean(fleet.root)


def test_claim_only_from_ready_and_conflict_when_taken(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    with pytest.raises(InvalidTransition, match="is backlog; claimed needs it to be ready"):
        fleet.claim(t.id, "a")
    fleet.promote(t.id)
    fleet.claim(t.id, "a")
    with pytest.raises(ClaimConflict, match="already claimed by a"):
        fleet.claim(t.id, "b")


def test_dependencies_must_be_done_before_claim(fleet: Fleet) -> None:
    a = fleet.create_task("a", ready=True)
    b = fleet.create_task("b", ready=True, depends_on=[a.id[:5]])  # a prefix resolves
    assert b.depends_on == [a.id]
    with pytest.raises(InvalidTransition, match=rf"waiting on {a.id} \(ready\)"):
        fleet.claim(b.id, "x")
    tok = fleet.claim(a.id, "x").lease["token"]  # type: ignore[index]
    fleet.complete(a.id, token=tok, summary="ok")
    assert fleet.claim(b.id, "x").state == State.IN_PROGRESS


def test_unknown_dependency_and_cycles_are_refused(fleet: Fleet) -> None:
    with pytest.raises(NotFound, match="t-zzzzzz"):
        fleet.create_task("x", depends_on=["t-zzzzzz"])
    a = fleet.create_task("a")
    b = fleet.create_task("b", depends_on=[a.id])
    c = fleet.create_task("c", depends_on=[b.id])
    with pytest.raises(ValidationError, match=rf"cycle: {a.id} -> {c.id} -> {b.id} -> {a.id}"):
        fleet.edit_task(a.id, add_deps=[c.id])
    with pytest.raises(ValidationError, match=rf"cycle: {a.id} -> {a.id}"):
        fleet.edit_task(a.id, add_deps=[a.id])
    assert fleet.get_task(a.id).depends_on == []


def test_stale_and_foreign_tokens_are_refused(fleet: Fleet, root: Path, clock: FixedClock) -> None:
    t = fleet.create_task("x", ready=True)
    tok1 = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    fleet.release(t.id, token=tok1)
    tok2 = fleet.claim(t.id, "b").lease["token"]  # type: ignore[index]
    assert tok2.startswith("2-") and tok1 != tok2
    agent_a = Fleet(root, clock=clock, actor="agent:a")
    for call in (
        lambda: agent_a.complete(t.id, token=tok1, summary="late"),
        lambda: agent_a.release(t.id, token=tok1),
        lambda: agent_a.edit_task(t.id, title="mine", token=tok1),
        lambda: agent_a.progress(t.id, note="x", token=tok1),
        lambda: agent_a.heartbeat(t.id, tok1),
        lambda: agent_a.complete(t.id, token=None, summary="no token"),
    ):
        with pytest.raises(LeaseError):
            call()
    assert fleet.get_task(t.id).lease["holder"] == "b"  # type: ignore[index]


def test_block_answer_keeps_question_and_answer_in_body(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    b = fleet.block(t.id, question="Which database?", token=tok)
    assert b.state == State.BLOCKED and b.lease is None
    assert b.meta["blocked"]["question"] == "Which database?"
    with pytest.raises(InvalidTransition):
        fleet.claim(t.id, "a")
    r = fleet.answer(t.id, text="Postgres")
    assert r.state == State.READY and "blocked" not in r.meta
    assert "**Q** Which database?" in r.body and "**A** Postgres" in r.body
    assert r.body.index("**Q**") < r.body.index("**A**")


def test_fail_retries_then_deadletters_then_resurrects(fleet: Fleet) -> None:
    t = fleet.create_task("flaky", ready=True)
    limit = fleet.config.scheduler["max_attempts"]
    for attempt in range(1, limit + 1):
        tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
        t2 = fleet.fail(t.id, error=f"boom {attempt}", token=tok)
        assert t2.meta["last_error"] == f"boom {attempt}"
        assert t2.state == (State.DEADLETTER if attempt == limit else State.READY)
    with pytest.raises(InvalidTransition):
        fleet.resurrect(fleet.create_task("not dead").id)
    back = fleet.resurrect(t.id, reason="fixed creds")
    assert back.state == State.READY and back.meta["attempts"] == 0
    assert back.meta["last_error"] == f"boom {limit}"  # the cause is kept


def test_permanent_failure_goes_straight_to_deadletter(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    assert (
        fleet.fail(t.id, error="no credentials", token=tok, permanent=True).state
        == State.DEADLETTER
    )


def test_cancel_from_anywhere_but_terminal(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    c = fleet.cancel(t.id, reason="superseded")
    assert c.state == State.CANCELLED and "superseded" in c.body
    for call in (
        lambda: fleet.cancel(t.id, reason="again"),
        lambda: fleet.promote(t.id),
        lambda: fleet.resurrect(t.id),
        lambda: fleet.move(t.id, "ready"),
    ):
        with pytest.raises(InvalidTransition):
            call()
    with pytest.raises(ValidationError, match="needs a reason"):
        fleet.cancel(fleet.create_task("y").id, reason=" ")


def test_review_gates_approve_and_reject(fleet: Fleet, root: Path) -> None:
    (root / "workflows" / "reviewed.yaml").write_text("gates:\n  - name: code-review\n  - qa\n")
    t = fleet.create_task("gated", ready=True)
    fleet.edit_task(t.id, set_fields={"workflow": "reviewed"})
    tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    r = fleet.complete(t.id, token=tok, summary="done")
    assert r.state == State.REVIEW and r.meta["gate"]["current"] == "code-review"
    r = fleet.approve(t.id, note="good")
    assert r.state == State.REVIEW and r.meta["gate"]["current"] == "qa"
    r = fleet.reject(t.id, feedback="add tests")
    assert r.state == State.READY and "## Feedback" in r.body and "qa: add tests" in r.body
    assert r.meta["gate"]["worker"] == "a" and "current" not in r.meta["gate"]
    tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    fleet.complete(t.id, token=tok, summary="with tests")
    fleet.approve(t.id)
    final = fleet.approve(t.id)
    assert final.state == State.DONE
    assert [h["outcome"] for h in final.meta["gate"]["history"]] == [
        "passed",
        "rejected",
        "passed",
        "passed",
    ]


def test_move_follows_the_table(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    assert fleet.move(t.id, "backlog").state == State.BACKLOG
    with pytest.raises(InvalidTransition, match="backlog -> done is not allowed"):
        fleet.move(t.id, "done")
    with pytest.raises(InvalidTransition, match="use `aof task claim`"):
        fleet.move(t.id, "in-progress")


def test_edit_fields_labels_body_and_expect_rev(fleet: Fleet) -> None:
    t = fleet.create_task("x", labels=["a"])
    e = fleet.edit_task(
        t.id,
        title="New title",
        priority="low",
        add_labels=["b"],
        remove_labels=["a"],
        set_fields={"model": "opus", "due": "2026-12-01T00:00:00Z"},
        body="## Objective\n\nnew body\n",
    )
    assert (e.title, e.priority, e.meta["labels"], e.meta["model"]) == (
        "New title",
        "low",
        ["b"],
        "opus",
    )
    assert e.body == "## Objective\n\nnew body\n"
    assert e.path == t.path  # the file name keeps its original slug
    with pytest.raises(ConcurrentModification, match="changed since revision"):
        fleet.edit_task(t.id, title="lost?", expect_rev=t.rev)
    assert fleet.edit_task(t.id, title="ok", expect_rev=e.rev).title == "ok"
    for bad in ({"priority": "urgent"}, {"team": "Not A Slug"}, {"attempts": -1}, {"lease": {}}):
        with pytest.raises(ValidationError):
            fleet.edit_task(t.id, set_fields=bad)


def test_ids_are_prefix_resolvable_and_refuse_paths(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    assert fleet.get_task(t.id[2:6]).id == t.id
    for bad in ("../etc/passwd", "t-../../x", "/abs", "t-a/b", "t-ab cd", "", "t-"):
        with pytest.raises(ValidationError, match=r"no '/', '\.\.'"):
            fleet.get_task(bad)
    ids = [t.id] + [fleet.create_task(f"y{i}").id for i in range(32)]  # 33 ids, 32 first chars
    firsts = [i[2] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(AmbiguousId, match="is ambiguous"):
        fleet.get_task(shared)
    with pytest.raises(NotFound):
        fleet.get_task("t-" + "z" * 9)


def test_no_op_edit_does_not_change_bytes_except_updated(fleet: Fleet) -> None:
    t = fleet.create_task("x")
    before = t.path.read_text()
    fleet.edit_task(t.id)
    after = t.path.read_text()
    diff = [ln for ln in after.splitlines() if ln not in before.splitlines()]
    assert len(diff) == 1 and diff[0].startswith("updated:")


def test_commit_off_writes_audit_but_no_commits(root: Path, clock: FixedClock) -> None:
    fleet = Fleet(root, clock=clock, actor="human:t", commit=False)
    head = git(root, "rev-parse", "HEAD")
    t = fleet.create_task("x")
    assert git(root, "rev-parse", "HEAD") == head
    assert any(r["entity"]["id"] == t.id for r in fleet.audit.records())


def test_an_agents_progress_report_renews_its_lease(fleet: Fleet, clock: FixedClock) -> None:
    tid = fleet.create_task("Long job", ready=True).id
    lease = fleet.claim(tid, "coder-1").lease
    first = fleet.lease_expiry(fleet.get_task(tid))
    clock.advance(600)
    agent = Fleet(fleet.root, clock=clock, actor="agent:coder-1")
    agent.progress(tid, note="halfway", token=lease["token"])
    assert fleet.lease_expiry(fleet.get_task(tid)) == first + timedelta(seconds=600)
    clock.advance(600)  # past the claim's own expiry, not the report's
    assert [a["kind"] for a in fleet.plan()["actions"] if a["task"] == tid] == []
    # A person's note (no token, an explicit override) is not the agent's heartbeat.
    clock.advance(400)
    with fleet.overriding("a person looked"):
        fleet.progress(tid, note="a person looked")
    assert [a["kind"] for a in fleet.plan()["actions"] if a["task"] == tid] == ["expire"]


def test_a_completion_lists_no_state_directory_but_in_progress(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """complete and heartbeat look for their task in in-progress first: with 5,000 ready
    tasks, listing ready's names again after a claim cost a completion ~4 ms."""
    import os

    ready = [fleet.create_task(f"r{i}", ready=True) for i in range(3)]
    claimed = fleet.claim(ready[0].id, "coder-1")
    token = claimed.meta["lease"]["token"]
    listed: list[str] = []
    real = os.listdir

    def spy(path: str | os.PathLike[str] = ".") -> list[str]:
        listed.append(Path(path).name)
        return real(path)

    for cache in (fleet.root / ".aof" / "cache").glob("ids-*"):
        cache.unlink()  # as if other processes changed every directory since it was cached
    monkeypatch.setattr(os, "listdir", spy)
    Fleet(fleet.root, clock=fleet.clock).heartbeat(ready[0].id, token)  # a process of its own
    Fleet(fleet.root, clock=fleet.clock).complete(ready[0].id, token=token, summary="done")
    assert listed and set(listed) == {"in-progress"}, listed
