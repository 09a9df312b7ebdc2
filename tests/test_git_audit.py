"""Audit records and git commits: attribution, exact paths, contention with a human's git."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aof import FixedClock, Fleet
from aof.errors import NotFound
from aof.journal.audit import Actor, AuditLog, tail
from aof.ops.lint import schema_errors

from .conftest import Cli, git, git_clean


def test_every_record_is_schema_valid_with_actor_and_seq(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    tok = fleet.claim(t.id, "c1").lease["token"]  # type: ignore[index]
    fleet.complete(t.id, token=tok, summary="done")
    recs = list(fleet.audit.records())
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    for r in recs:
        assert schema_errors("audit", r) == []
    claim = next(r for r in recs if r["action"] == "claimed")
    assert claim["actor"] == {"kind": "agent", "id": "c1"}
    assert (claim["from"], claim["to"]) == ("ready", "in-progress")
    assert claim["changes"]["lease"]["holder"] == "c1"
    assert (fleet.root / "audit" / "2026" / "11" / "21.jsonl").is_file()


def test_day_files_follow_the_clock_and_seq_restarts(fleet: Fleet, clock: FixedClock) -> None:
    fleet.create_task("a")
    clock.advance(days=1)
    fleet.create_task("b")
    files = [p.relative_to(fleet.root).as_posix() for p in fleet.audit.files()]
    assert files == ["audit/2026/11/21.jsonl", "audit/2026/11/22.jsonl"]
    assert [r["seq"] for r in fleet.audit.records()][-1] == 1


def test_the_tail_of_a_trail_reads_back_across_months_and_years(tmp_path: Path) -> None:
    """tail() walks the day files from the newest back, across a month's and a year's end,
    and takes no name that is not a day file (a note, a one-digit month) for one."""
    clock = FixedClock("2025-12-30T09:00:00Z")
    log = AuditLog(tmp_path, clock)
    made = []
    for _ in range(4):  # 2025-12-30, 12-31, 2026-01-01, 01-02
        made.append(log.append(Actor("agent", "x"), "tested", ("task", "t-abcd"))[0])
        clock.advance(days=1)
    (tmp_path / "audit" / "notes.txt").write_text("not a day\n")
    (tmp_path / "audit" / "2026" / "1").mkdir()
    (tmp_path / "audit" / "2026" / "1" / "03.jsonl").write_text('{"ts": "late"}\n')
    (tmp_path / "audit" / "2026" / "01" / "4.jsonl").write_text('{"ts": "late"}\n')
    assert tail(log, 3) == made[1:]
    assert tail(log, 10) == made
    days = [p.relative_to(tmp_path).as_posix() for p in log.files()]
    assert days == [
        "audit/2025/12/30.jsonl",
        "audit/2025/12/31.jsonl",
        "audit/2026/01/01.jsonl",
        "audit/2026/01/02.jsonl",
    ]
    assert list(log.newest_first()) == list(reversed(log.files()))


@settings(max_examples=50, deadline=None)
@given(
    action=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30
    ),
    reason=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
)
def test_audit_append_read_round_trip(
    tmp_path_factory: pytest.TempPathFactory, action: str, reason: str
) -> None:
    root = tmp_path_factory.mktemp("audit")
    log = AuditLog(root, FixedClock("2026-11-21T09:00:00Z"))
    rec, _ = log.append(Actor("agent", "x"), action, ("task", "t-abcd"), reason=reason or None)
    assert list(log.records()) == [rec]


def test_a_humans_staged_work_is_never_swept_into_an_aof_commit(fleet: Fleet) -> None:
    (fleet.root / "notes.txt").write_text("my draft\n")
    git(fleet.root, "add", "notes.txt")
    t = fleet.create_task("x")
    assert "notes.txt" not in git(fleet.root, "show", "--name-only", "--format=", "HEAD")
    assert git(fleet.root, "diff", "--cached", "--name-only").strip() == "notes.txt"
    assert t.path.relative_to(fleet.root).as_posix() in git(fleet.root, "ls-files")


def test_commits_touch_exactly_the_changed_paths(fleet: Fleet) -> None:
    t = fleet.create_task("x", ready=True)
    fleet.claim(t.id, "a")
    names = git(fleet.root, "show", "--name-status", "--format=", "HEAD").split("\n")
    assert sorted(filter(None, names)) == sorted(
        [
            "M\taudit/2026/11/21.jsonl",
            f"D\ttasks/ready/{t.path.name}",
            f"A\ttasks/in-progress/{t.path.name}",
        ]
    )


def test_a_human_commit_in_between_is_kept(fleet: Fleet) -> None:
    fleet.create_task("a")
    (fleet.root / "manual.md").write_text("by hand\n")
    git(fleet.root, "add", "manual.md")
    git(fleet.root, "-c", "user.name=h", "-c", "user.email=h@x", "commit", "-qm", "human")
    fleet.create_task("b")
    log = git(fleet.root, "log", "--format=%s").splitlines()
    assert log[1] == "human" and "manual.md" in git(fleet.root, "ls-files")
    assert git_clean(fleet.root)


def test_commit_waits_for_a_humans_index_lock(fleet: Fleet) -> None:
    lock = fleet.root / ".git" / "index.lock"
    lock.write_text("")
    threading.Timer(0.5, lock.unlink).start()
    started = time.monotonic()
    fleet.create_task("x")
    assert time.monotonic() - started >= 0.4
    assert git_clean(fleet.root)


def test_a_stale_index_lock_leaves_the_commit_made_and_the_index_caught_up_later(
    fleet: Fleet, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashed git's index.lock never goes away by itself: the commit is still made, the
    paths wait in .aof/index-behind, and the first commit after the lock is gone stages them."""
    import aof.journal.gitindex as gitindex

    monkeypatch.setattr(gitindex, "INDEX_WAIT_S", 0.3)
    lock = fleet.root / ".git" / "index.lock"
    lock.write_text("")
    said: list[str] = []
    fleet.git.warn = said.append
    first = fleet.create_task("Committed anyway")
    assert first.id in git(fleet.root, "log", "-1", "--format=%s")
    [warning] = said
    assert "index is behind" in warning and "index.lock" in warning
    behind = (fleet.root / ".aof" / "index-behind").read_text().split()
    assert any(first.id in rel for rel in behind)
    # the CLI says it and succeeds: the change is committed
    made = run("task", "create", "Also committed")  # exit 0
    assert "index is behind" in made.stderr
    assert not git_clean(fleet.root)  # the index still lags HEAD for those paths
    lock.unlink()
    fleet.create_task("After the lock")
    assert git_clean(fleet.root)
    assert not (fleet.root / ".aof" / "index-behind").exists()


def test_a_commit_git_refuses_leaves_the_persons_index_as_head_has_it(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index refresh runs alongside the commit; when the commit fails after all, the
    entries it staged are put back, so nothing uncommitted is left staged for a person's
    next `git commit`."""
    from aof.errors import GitError

    head = git(fleet.root, "rev-parse", "HEAD")
    started: list[subprocess.Popen[bytes]] = []
    real_start = fleet.git.start

    def start(*args: str) -> subprocess.Popen[bytes]:
        started.append(real_start(*args))
        return started[-1]

    def refuse(*_args: object) -> str | None:
        started[-1].wait()  # the refresh alongside has staged the new task by now
        assert "tasks/backlog/" in git(fleet.root, "diff", "--cached", "--name-only")
        raise GitError("git fast-import failed: refused for the test")

    monkeypatch.setattr(fleet.git, "start", start)
    monkeypatch.setattr(fleet.git, "_import", refuse)
    with pytest.raises(GitError, match="refused for the test"):
        fleet.create_task("Never committed")
    assert git(fleet.root, "rev-parse", "HEAD") == head
    assert git(fleet.root, "diff", "--cached", "--name-only").strip() == ""


def test_the_split_part_of_gits_index_is_shared_again_once_it_grows(fleet: Fleet) -> None:
    """A split part of git's index that grew to thousands of entries is shared again by the
    next aof commit, so the commits after it do not reread and rewrite them all."""
    from aof.journal.gitindex import SPLIT_MAX

    notes = fleet.root / "notes"
    notes.mkdir()
    for i in range(4000):
        (notes / f"note-{i:05d}.md").write_text(f"note {i}\n")
    # What a long run of updates left at 100,000 files: thousands of entries in the split
    # part that git did not share again by itself (here it is told never to).
    git(fleet.root, "config", "splitIndex.maxPercentChange", "100")
    git(fleet.root, "add", "notes")
    git(fleet.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "notes")
    index = fleet.root / ".git" / "index"
    assert index.stat().st_size > SPLIT_MAX
    fleet.create_task("The next commit")
    assert index.stat().st_size <= SPLIT_MAX
    assert git(fleet.root, "ls-files", "notes").count("\n") == 4000
    assert git_clean(fleet.root)


def test_author_is_the_actor_and_committer_falls_back(fleet: Fleet) -> None:
    fleet.create_task("x")
    author, committer = git(fleet.root, "log", "-1", "--format=%an <%ae>|%cn").strip().split("|")
    assert author == "human:tester <tester@human.aof>"
    assert committer == "aof"  # no git identity configured in tests: aof supplies one


def test_committer_from_config(root: Path, clock: FixedClock) -> None:
    cfg = root / "aof.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "  # committer: {name: aof, email: aof@example.com}",
            "  committer: {name: Fleet Bot, email: bot@example.com}",
        )
    )
    Fleet(root, clock=clock).create_task("x")
    assert git(root, "log", "-1", "--format=%cn <%ce>").strip() == "Fleet Bot <bot@example.com>"


def test_history_shows_records_and_commits(fleet: Fleet, run: Cli) -> None:
    t = fleet.create_task("x", ready=True)
    fleet.claim(t.id, "a")
    h = run.json("history", t.id[:6])
    assert [r["action"] for r in h["records"]] == ["created", "claimed"]
    assert [c["subject"] for c in h["commits"]] == [
        f"task {t.id}: ready -> in-progress (agent:a)",
        f"task {t.id}: created in ready (human:tester)",
    ]
    assert run("history", "t-zzzzzz", code=3)


def test_audit_list_and_search_filter_before_limit(fleet: Fleet, run: Cli) -> None:
    a = fleet.create_task("alpha", ready=True)
    for i in range(5):
        fleet.create_task(f"filler {i}")
    fleet.claim(a.id, "c9")
    got = run.json("audit", "list", "--actor", "agent:c9", "--limit", "1")
    assert [r["action"] for r in got] == ["claimed"]
    assert [r["entity"]["id"] for r in run.json("audit", "search", "alpha")] == [a.id]
    assert len(run.json("audit", "list", "--task", a.id)) == 2
    assert run.json("audit", "list", "--since", "2030-01-01T00:00:00Z") == []
    run("audit", "list", "--since", "yesterday", code=2)


def test_init_makes_one_commit_with_the_template(tmp_path: Path) -> None:
    fleet = Fleet.init(tmp_path / "f", actor="human:x")
    files = git(fleet.root, "ls-files").split()
    assert "aof.yaml" in files and "tasks/ready/.gitkeep" in files and ".gitattributes" in files
    assert git(fleet.root, "rev-list", "--count", "HEAD").strip() == "1"
    assert "merge=union" in (fleet.root / ".gitattributes").read_text()
    assert git_clean(fleet.root)
    assert subprocess.run(["git", "check-ignore", "-q", ".aof/x"], cwd=fleet.root).returncode == 0
    assert json.loads(json.dumps(fleet.config.data))["name"] == "f"


def test_a_person_committing_during_an_aof_commit_is_never_overwritten(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The branch moves between aof reading HEAD and importing: fast-import refuses the
    non-fast-forward update, aof retries from the new tip, and both commits survive."""
    fleet.create_task("before")
    stale = fleet.git.branch_and_head()
    (fleet.root / "person.md").write_text("a person's commit\n")
    git(fleet.root, "add", "person.md")
    git(fleet.root, "-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qm", "person")
    real = fleet.git.branch_and_head
    calls = {"n": 0}

    def once_stale() -> tuple[str, str | None]:
        calls["n"] += 1
        return stale if calls["n"] == 1 else real()

    monkeypatch.setattr(fleet.git, "branch_and_head", once_stale)
    t = fleet.create_task("after")
    assert calls["n"] >= 2  # the first, stale attempt was refused and retried
    log = git(fleet.root, "log", "--format=%s").splitlines()
    assert log[0] == f"task {t.id}: created in backlog (human:tester)"
    assert log[1] == "person"
    assert "person.md" in git(fleet.root, "ls-files")
    assert git_clean(fleet.root)


def test_history_is_a_library_call(fleet: Fleet) -> None:
    from aof import fleetapi

    t = fleet.create_task("x", ready=True)
    h = fleetapi.history(fleet, t.id)
    assert (h["id"], [r["action"] for r in h["records"]]) == (t.id, ["created"])
    assert len(h["commits"]) == 1
    with pytest.raises(NotFound):
        fleetapi.history(fleet, "t-zzzzzz")
