"""A fleet root shared by git: a bare repository as the remote, the coordinator's root and a
person's clone, edited at once, synced with ``git.remote`` (aof.ops.sync), nothing lost."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from aof import FixedClock, Fleet, SeededIds
from aof.fleetapi import sync
from aof.model.config import load_config
from aof.scheduler.daemon import Daemon

from .conftest import Cli, git, git_clean, set_default_coder
from .notify_helpers import outbox_lines
from .test_daemon import RecordingExecutor


def _set_remote(root: Path, extra: str = "") -> None:
    path = root / "aof.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\ngit:\n" in text, text
    path.write_text(text.replace("\ngit:\n", f"\ngit:\n  remote: origin\n{extra}", 1))
    git(root, "add", "aof.yaml")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "git.remote")


@pytest.fixture
def clones(tmp_path: Path, root: Path, clock: FixedClock) -> tuple[Fleet, Fleet]:
    """(the coordinator's fleet, a person's clone's fleet) sharing a bare remote."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    _set_remote(root)
    git(root, "remote", "add", "origin", str(bare))
    branch = git(root, "symbolic-ref", "--short", "HEAD").strip()
    git(root, "push", "-q", "origin", f"HEAD:{branch}")
    git(bare, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    person = tmp_path / "ada"
    git(tmp_path, "clone", "-q", str(bare), str(person))
    git(person, "config", "user.name", "Ada Lovelace")
    git(person, "config", "user.email", "ada@example.com")
    coord = Fleet(root, clock=clock, ids=SeededIds(3), actor="scheduler:daemon")
    coord.git.deferred = False
    ada = Fleet(person, clock=clock, ids=SeededIds(4), actor="human:ada-lovelace")
    return coord, ada


def _records(fleet: Fleet) -> list[dict]:
    return list(fleet.audit.records())


def test_two_clones_edited_at_once_sync_with_nothing_lost(clones, clock) -> None:
    coord, ada = clones
    shared = coord.create_task("shared work", priority="normal")
    coord.promote(shared.id)
    other = coord.create_task("coordinator's own")
    coord.promote(other.id)
    assert sync(coord, person=False).pushed
    assert sync(ada).ok
    # at once: the person edits one task and creates another; the coordinator claims and
    # completes others
    clock.advance(60)
    ada.edit_task(shared.id, priority="high")
    mine = ada.create_task("the person's new task")
    claimed = coord.claim(other.id, "coder-1")
    coord.complete(other.id, summary="done", token=claimed.lease["token"])
    res = sync(ada)
    assert res.ok and res.pushed, res
    res = sync(coord, person=False)
    assert res.ok, res
    assert res.merged and not res.conflicts
    assert sync(ada).ok
    for f in (coord, ada):
        assert f.get_task(shared.id).meta["priority"] == "high"
        assert f.get_task(mine.id).state.value == "backlog"
        assert f.get_task(other.id).state.value == "done"
        assert git_clean(f.root), git(f.root, "status", "--porcelain")
    assert git(coord.root, "rev-parse", "HEAD") == git(ada.root, "rev-parse", "HEAD")
    recs = _records(coord)
    keys = [(r["ts"], r.get("origin") or "", r["seq"]) for r in recs]
    assert keys == sorted(keys)
    origins = {r.get("origin") for r in recs}
    assert len(origins - {None}) == 2
    assert coord.doctor().ok, coord.doctor().to_json()


def _shared_task(coord: Fleet, ada: Fleet) -> str:
    task = coord.create_task("shared work")
    coord.promote(task.id)
    assert sync(coord, person=False).pushed
    assert sync(ada).ok
    return task.id


def test_a_real_conflict_keeps_the_coordinators_version_and_the_other_aside(clones, clock) -> None:
    coord, ada = clones
    (coord.root / "aof.yaml").write_text(
        (coord.root / "aof.yaml").read_text()
        + "notify:\n  channels:\n    log: file:.aof/notes.jsonl\n"
        "  rules:\n    - events: [sync_conflict]\n      channels: [log]\n"
    )
    git(coord.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "notify")
    coord.config = load_config(coord.root)
    tid = _shared_task(coord, ada)
    clock.advance(60)
    coord.edit_task(tid, title="the coordinator title", priority="high")
    ada.edit_task(tid, title="the person title", priority="low")
    assert sync(ada).pushed
    res = sync(coord, person=False)
    assert res.conflicts and not res.ok
    [rec] = [r for r in res.conflicts if r["entity"]["id"] == tid]
    assert rec["action"] == "sync_conflict" and rec["event"] == "sync_conflict"
    saved = coord.root / rec["changes"]["saved"]
    assert saved.is_file() and ".aof/conflicts/" in rec["changes"]["saved"]
    assert "the person title" in saved.read_text()
    assert coord.get_task(tid).meta["title"] == "the coordinator title"
    notes = outbox_lines(coord.root)
    assert any(n["event"] == "sync_conflict" and tid in json.dumps(n) for n in notes)
    assert git_clean(coord.root)
    # the person pulls: the coordinator's version, the record naming the kept copy
    assert sync(ada).ok
    assert ada.get_task(tid).meta["title"] == "the coordinator title"
    assert any(r["action"] == "sync_conflict" for r in _records(ada))
    assert coord.doctor().ok and ada.doctor().ok


def test_a_persons_conflict_keeps_the_remotes_version(clones, clock) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    clock.advance(60)
    coord.edit_task(tid, title="coordinator")
    assert sync(coord, person=False).pushed
    ada.edit_task(tid, title="person")
    res = sync(ada)
    assert res.conflicts and res.pushed
    assert ada.get_task(tid).meta["title"] == "coordinator"
    saved = ada.root / res.conflicts[0]["changes"]["saved"]
    assert "title: person" in saved.read_text()


def test_both_sides_moved_a_task_it_stays_in_one_state(clones, clock) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    clock.advance(60)
    coord.claim(tid, "coder-1")  # ready -> in-progress here
    ada.cancel(tid, reason="not needed")  # ready -> cancelled over there
    assert sync(ada).pushed
    res = sync(coord, person=False)
    assert any(r["changes"]["kind"] in ("duplicate", "deleted", "content") for r in res.conflicts)
    assert [s.value for s in coord.tasks.copies(tid)] == ["in-progress"]
    assert coord.doctor().ok, coord.doctor().to_json()
    assert sync(ada).ok or sync(ada).conflicts == []
    assert [s.value for s in ada.tasks.copies(tid)] == ["in-progress"]


def test_a_hand_commit_is_validated_and_audited_as_its_author(clones, clock) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    path = ada.get_task(tid).path
    path.write_text(path.read_text().replace("priority: normal", "priority: critical"))
    git(ada.root, "commit", "-qam", "hand edit")
    bad = ada.root / "teams" / "broken.md"
    bad.write_text("---\nschema: aof/team/v1\nslug: 12\n---\n")
    git(ada.root, "add", "teams/broken.md")
    git(ada.root, "commit", "-qm", "a broken team, committed without the hook")
    git(ada.root, "push", "-q", "origin", "HEAD")
    res = sync(coord, person=False)
    assert f"tasks/ready/{path.name}" in res.audited
    edits = [r for r in _records(coord) if r["action"] == "edited"]
    assert edits[-1]["actor"] == {"kind": "human", "id": "ada-lovelace"}
    assert coord.get_task(tid).meta["priority"] == "critical"
    [aside] = [r for r in res.conflicts if r["changes"]["path"] == "teams/broken.md"]
    assert aside["changes"]["kind"] == "invalid"
    assert not (coord.root / "teams" / "broken.md").exists()
    assert (coord.root / aside["changes"]["saved"]).is_file()
    assert git_clean(coord.root)


def test_a_push_race_is_merged_and_pushed_again(clones, clock, monkeypatch) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    clock.advance(60)
    coord.edit_task(tid, priority="high")
    from aof.journal import gitremote

    real = gitremote.push
    raced = []

    def push_after_a_person(root, remote, branch, sha, timeout_s):
        if not raced:  # the remote moves between this fetch and this push
            raced.append(1)
            ada.create_task("pushed meanwhile")
            assert sync(ada).pushed
        return real(root, remote, branch, sha, timeout_s)

    monkeypatch.setattr("aof.ops.sync.push", push_after_a_person)
    res = sync(coord, person=False)
    assert res.pushed and res.push_retries == 1
    assert any(r["title"] == "pushed meanwhile" for r in coord.list_tasks(states=["backlog"]))
    assert (
        git(coord.root, "rev-parse", "HEAD")
        == git(coord.root, "ls-remote", "origin", "HEAD").split()[0] + "\n"
    )


def test_the_remote_down_leaves_everything_local(clones, tmp_path) -> None:
    coord, _ada = clones
    os.rename(tmp_path / "remote.git", tmp_path / "gone.git")
    task = coord.create_task("made while the remote is down")
    res = sync(coord, person=False)
    assert res.error and "fetch" in res.error and not res.pushed
    assert coord.get_task(task.id).meta["title"] == "made while the remote is down"
    assert json.loads((coord.root / ".aof/sync.json").read_text())["error"] == res.error
    os.rename(tmp_path / "gone.git", tmp_path / "remote.git")
    assert sync(coord, person=False).pushed


def test_doctor_reports_a_repeated_origin_day_seq(clones) -> None:
    coord, _ada = clones
    coord.create_task("one")
    [day] = coord.audit.files()
    lines = day.read_text().splitlines()
    day.write_text("\n".join([*lines, lines[-1]]) + "\n")  # a copied root's record, merged
    problems = [p for p in coord.doctor().problems if p.kind == "audit"]
    assert len(problems) == 1 and not problems[0].warning
    assert f"seq {json.loads(lines[-1])['seq']} appears 2 times" in problems[0].message
    legacy = json.loads(lines[-1])
    del legacy["origin"]
    day.write_text("\n".join([*lines, json.dumps(legacy), json.dumps(legacy)]) + "\n")
    report = coord.doctor()
    assert [p.warning for p in report.problems if p.kind == "audit"] == [True]


def _daemon(coord: Fleet, clock: FixedClock) -> Daemon:
    set_default_coder(coord.root)
    return Daemon(
        coord.root,
        clock=clock,
        ids=SeededIds(9),
        executor=RecordingExecutor(),
        watch=False,
        log_to_stderr=False,
    )


def test_the_daemon_merges_between_ticks_and_pushes_its_claims(clones, clock) -> None:
    coord, ada = clones
    d = _daemon(coord, clock)
    d.acquire()
    try:
        assert d.gitsync.round().pushed
        assert sync(ada).ok
        theirs = ada.create_task("from the person's clone", ready=True)
        assert sync(ada).pushed
        res = d.gitsync.round()
        assert res.merged and res.ok
        report = d.tick()
        assert [x["task"] for x in report["dispatched"]] == [theirs.id]
        assert d.gitsync.round().pushed
    finally:
        d.shutdown()
    assert sync(ada).ok
    assert ada.get_task(theirs.id).state.value == "in-progress"
    for f in (coord, ada):
        keys = [(r["ts"], r.get("origin") or "", r["seq"]) for r in _records(f)]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert git_clean(f.root)
    assert ada.doctor().ok, ada.doctor().to_json()


def test_the_remote_down_the_daemon_ticks_on_with_a_warning(clones, clock, tmp_path) -> None:
    coord, _ada = clones
    os.rename(tmp_path / "remote.git", tmp_path / "gone.git")
    d = _daemon(coord, clock)
    d.start()
    try:
        task = coord.create_task("work goes on", ready=True)
        report = d.tick()
        assert [x["task"] for x in report["dispatched"]] == [task.id]
        log = coord.root / "runs" / "daemon.log"
        for _ in range(600):  # the sync thread's first round, whenever it comes
            if "git sync:" in log.read_text():
                break
            time.sleep(0.05)
        text = log.read_text()
        assert "WARNING git sync: git fetch origin" in text and "working locally" in text
    finally:
        d.shutdown()


def _old(path: Path) -> None:
    """A hand edit made a while ago (settled: the sweep judges it), by the file system's
    clock (this process's wall clock may be elsewhere: `make date-check`)."""
    past = path.stat().st_mtime - 60
    os.utime(path, (past, past))


def test_aof_sync_commits_lints_and_pushes_a_persons_clone(clones, clock) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    cli = Cli(ada.root)
    path = ada.get_task(tid).path
    text = path.read_text()
    path.write_text(text.replace("priority: normal", "priority: soonish"))
    _old(path)
    out = cli("sync", code=1)
    rel = f"tasks/ready/{path.name}"
    assert f"{rel}:" in out.stdout and "priority" in out.stdout
    assert "not pushed" in out.stdout
    path.write_text(text.replace("priority: normal", "priority: high"))
    _old(path)
    data = json.loads(cli("sync", "--json").stdout)
    assert data["ok"] and data["pushed"] and data["committed"] == [rel], json.dumps(data)
    assert sync(coord, person=False).ok
    assert coord.get_task(tid).meta["priority"] == "high"
    edits = [r for r in _records(coord) if r["action"] == "edited"]
    assert edits[-1]["actor"] == {"kind": "human", "id": "ada-lovelace"}


def test_aof_sync_exits_16_when_it_kept_a_conflict_aside(clones, clock) -> None:
    coord, ada = clones
    tid = _shared_task(coord, ada)
    clock.advance(60)
    coord.edit_task(tid, title="coordinator")
    assert sync(coord, person=False).pushed
    ada.edit_task(tid, title="person")
    out = Cli(ada.root)("sync", "--json", code=16)
    data = json.loads(out.stdout)
    assert data["pushed"] and data["conflicts"][0]["entity"]["id"] == tid
    assert ada.get_task(tid).meta["title"] == "coordinator"
    err = Cli(ada.root)("sync", code=0)
    assert "up to date" in err.stdout


def test_a_remote_that_never_answers_costs_one_bounded_attempt(clones) -> None:
    coord, _ada = clones
    git(coord.root, "config", "protocol.ext.allow", "always")
    git(coord.root, "remote", "set-url", "origin", "ext::sh -c sleep% 600")
    path = coord.root / "aof.yaml"
    path.write_text(
        path.read_text().replace("  remote: origin\n", "  remote: origin\n  timeout_s: 1\n")
    )
    git(coord.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "timeout")
    coord.config = load_config(coord.root)
    res = sync(coord, person=False)
    assert res.error and "no answer within 1s (git.timeout_s)" in res.error
    assert not res.pushed and git_clean(coord.root)
