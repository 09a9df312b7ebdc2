"""A fleet root shared by git: a bare repository as the remote, the coordinator's root and a
person's clone, edited at once, synced with ``git.remote`` (aof.ops.sync), nothing lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from .conftest import git, git_clean

from aof import FixedClock, Fleet, SeededIds
from aof.fleetapi import sync


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
