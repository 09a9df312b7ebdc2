"""Real processes racing and dying: claims are exactly-once, a kill -9 loses nothing."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from aof import ClaimConflict, Fleet, State
from aof.model.task import STATES, id_from_filename

from .conftest import git, git_clean

pytestmark = pytest.mark.slow


def _seed_ready_tasks(root: Path, n: int) -> list[str]:
    """n ready tasks, committed in one go (setup only: the race below commits per claim)."""
    fleet = Fleet(root, actor="human:setup", commit=False)
    ids = [fleet.create_task(f"task {i}", ready=True).id for i in range(n)]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=setup", "-c", "user.email=s@x", "commit", "-qm", "seed"],
        cwd=root,
        check=True,
    )
    return ids


def _claimer(root: str, ids: list[str], worker: int, out: str) -> None:
    fleet = Fleet(root, actor=f"agent:w{worker}")
    order = list(ids)
    random.Random(worker).shuffle(order)
    won = []
    for tid in order:
        try:
            fleet.claim(tid, f"w{worker}")
            won.append(tid)
        except ClaimConflict:
            pass
    Path(out).write_text(json.dumps(won))


def test_eight_processes_claim_two_thousand_tasks_exactly_once(root: Path, tmp_path: Path) -> None:
    ids = _seed_ready_tasks(root, 2000)
    seed = git(root, "rev-parse", "HEAD").strip()
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"won-{w}.json" for w in range(8)]
    procs = [ctx.Process(target=_claimer, args=(str(root), ids, w, str(outs[w]))) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=900)
        assert p.exitcode == 0
    won = [tid for out in outs for tid in json.loads(out.read_text())]
    assert len(won) == len(set(won)) == 2000
    assert set(won) == set(ids)
    assert sum(1 for _ in (root / "tasks" / "in-progress").glob("t-*.md")) == 2000
    assert not list((root / "tasks" / "ready").glob("t-*.md"))
    assert git_clean(root)
    fleet = Fleet(root, actor="human:check")
    # Leases are fresh (900 s), so the doctor must find nothing at all.
    assert fleet.doctor(fix=False).problems == []
    claims = Counter(r["entity"]["id"] for r in fleet.audit.records() if r["action"] == "claimed")
    assert set(claims.values()) == {1} and len(claims) == 2000
    # Every claim is its own commit, attributed to the agent that won it.
    authors = Counter(git(root, "log", "--format=%an", f"{seed}..HEAD").split("\n")[:-1])
    assert sum(authors.values()) == 2000 and all(a.startswith("agent:w") for a in authors)


WRITER = r"""
import sys, random
from aof import Fleet, ClaimConflict, InvalidTransition, LeaseError
from aof.errors import NotFound, ConcurrentModification
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
fleet = Fleet(root, actor="human:burst")
while True:
    t = fleet.create_task(f"burst {rng.random():.6f}", ready=rng.random() < 0.5)
    try:
        if t.state.value == "backlog":
            fleet.promote(t.id)
        tok = fleet.claim(t.id, "k").lease["token"]
        r = rng.random()
        if r < 0.3:
            fleet.complete(t.id, token=tok, summary="ok")
        elif r < 0.5:
            fleet.block(t.id, question="why?", token=tok)
            fleet.answer(t.id, text="because")
        elif r < 0.7:
            fleet.fail(t.id, error="boom", token=tok)
        elif r < 0.85:
            fleet.edit_task(t.id, add_labels=["x"], token=tok)
        else:
            fleet.cancel(t.id, reason="no")
    except (ClaimConflict, InvalidTransition, LeaseError, NotFound, ConcurrentModification):
        pass
"""


def _files_by_id(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for state in STATES:
        for path in (root / "tasks" / state.value).rglob("*.md"):  # done/ and cancelled/: shards
            tid = id_from_filename(path.name)
            if tid:
                out.setdefault(tid, []).append(state.value)
    return out


def test_sigkill_at_random_instants_loses_and_duplicates_nothing(
    root: Path, tmp_path: Path
) -> None:
    rng = random.Random(7)
    fleet = Fleet(root, actor="human:check")
    for round_ in range(12):
        log = tmp_path / f"writer-{round_}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(root), str(round_)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            time.sleep(0.4 + rng.random() * 1.2)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, log.read_text()  # it died by our hand only
        # Let git children of the killed writer finish (they are not killed with it).
        time.sleep(0.3)
        report = fleet.doctor(fix=True)
        assert report.ok, report.to_json()
        assert fleet.doctor(fix=False).problems == [], fleet.doctor(fix=False).to_json()
        files = _files_by_id(root)
        created = {r["entity"]["id"] for r in fleet.audit.records() if r["action"] == "created"}
        # Nothing lost: every task whose creation was recorded still exists, exactly once.
        assert created <= set(files), created - set(files)
        assert all(len(states) == 1 for states in files.values()), files
        # No half-written file: every task parses and validates.
        rows, problems = fleet.tasks.summaries()
        assert problems == []
        assert {r["id"] for r in rows} == set(files)
        leftovers = [p for p in root.glob("tasks/*/.*") if p.name != ".gitkeep"]
        assert leftovers == []
        in_progress = [r for r in rows if r["state"] == State.IN_PROGRESS.value]
        assert all(r["holder"] for r in in_progress)
        assert git_clean(root), git(root, "status", "--short")
    assert len(files) > 12  # the bursts really did work


def test_lost_update_is_an_error_not_silent(fleet: Fleet) -> None:
    """A person saving the file between aof's read and write makes aof refuse, not overwrite."""
    t = fleet.create_task("x")
    from aof.files import cardfile

    card = cardfile.read(t.path)
    t.path.write_text(t.path.read_text() + "\nA person's note.\n")
    from aof.errors import ConcurrentModification

    with pytest.raises(ConcurrentModification):
        cardfile.replace(
            t.path, cardfile.render(card, {**card.meta, "title": "y"}), expect=card.stamp
        )
    assert "A person's note." in t.path.read_text()


def _appender(root: str, n: int, worker: int) -> None:
    fleet = Fleet(root, actor=f"agent:a{worker}", commit=False)
    for i in range(n):
        fleet.audit.append(fleet.actor, "probe", ("task", f"t-{worker:02d}{i:04d}"))


def test_concurrent_audit_appends_are_whole_lines_with_unique_seq(root: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(root), 300, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    fleet = Fleet(root)
    problems: list[str] = []
    recs = [r for r in fleet.audit.records(problems) if r["action"] == "probe"]
    assert problems == [] and len(recs) == 1200
    # seq numbers the records of one day file from 1. The fixture's records are on its fixed
    # day and the children's on the machine's (which may be the same day, or may pass midnight
    # during the race): every file, whichever day it is, must count 1, 2, 3, ... with no repeat.
    for path in fleet.audit.files():
        lines = path.read_text(encoding="utf-8").splitlines()
        seqs = [json.loads(line)["seq"] for line in lines]
        assert seqs == list(range(1, len(seqs) + 1)), path
    assert os.path.exists(root / ".aof" / "locks" / "audit.lock")
