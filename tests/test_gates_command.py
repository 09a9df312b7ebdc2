"""Command gates run by aof itself: on the branch's head commit, in the task's worktree, with
their output kept, killed at their timeout, and a task reaches done only with a pass of every
command gate on its final head commit."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from aof import Fleet
from aof.errors import InvalidTransition, LeaseError
from aof.journal.audit import AuditLog
from aof.model.task import State
from aof.model.workflow import Gate
from aof.runner.gates import GateRunner, end_group, run_command, run_gate

from .conftest import Cli, git

GIT_ID = ("-c", "user.name=t", "-c", "user.email=t@t")


def project(run: Cli, tmp_path: Path, workflow: str) -> Path:
    """A team, a project with a repository (one commit on main) and ``workflows/w.yaml``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", "-A")
    git(repo, *GIT_ID, "commit", "-qm", "initial")
    run("team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    run("project", "create", "--team", "core", "--slug", "app", "--root-path", str(repo))
    (run.root / "workflows" / "w.yaml").write_text(workflow)
    return repo


def commit_work(repo: Path, task_id: str, text: str) -> str:
    """Commit ``text`` on the task's branch (made from main if new); the new head."""
    branch = f"aof/{task_id}"
    exists = git(repo, "branch", "--list", branch).strip()
    tree = run_in_worktree(repo, task_id, branch, exists=bool(exists))
    (tree / "work.txt").write_text(text)
    git(tree, "add", "-A")
    git(tree, *GIT_ID, "commit", "-qm", text)
    return git(repo, "rev-parse", branch).strip()


def run_in_worktree(repo: Path, task_id: str, branch: str, *, exists: bool) -> Path:
    from aof.runner.worktrees import ensure, worktrees_dir

    root = Path(os.environ["TEST_FLEET_ROOT"])
    path = worktrees_dir(root, {}) / task_id
    ensure(path, repo, branch, "main")
    return path


@pytest.fixture(autouse=True)
def _root_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FLEET_ROOT", str(root))


def worked(fleet: Fleet, repo: Path, title: str, text: str) -> str:
    """A task of project app, claimed by agent coder-1, its work committed, completed."""
    t = fleet.create_task(title, project="app", ready=True, fields={"workflow": "w"})
    redo(fleet, repo, t.id, text)
    return t.id


def redo(fleet: Fleet, repo: Path, task_id: str, text: str) -> None:
    tok = str((fleet.claim(task_id, "coder-1").lease or {})["token"])
    commit_work(repo, task_id, text)
    fleet.complete(task_id, token=tok, summary="done")


def gate_of(fleet: Fleet, task_id: str) -> tuple[Gate, str]:
    task = fleet.get_task(task_id)
    wf = fleet.workflow_of(task)
    assert wf is not None
    gate = wf.gate(task.meta["gate"]["current"])
    assert gate is not None
    held = fleet.claim_gate(task_id, "aof", gate.name)
    return gate, str((held.lease or {})["token"])


def test_a_failing_gate_sends_the_work_back_with_its_output_and_a_pass_reaches_done(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    repo = project(
        run, tmp_path, "gates:\n  - name: tests\n    run: grep -q good work.txt && echo ALL-GREEN\n"
    )
    tid = worked(fleet, repo, "Make it good", "bad work")
    assert fleet.get_task(tid).state == State.REVIEW
    gate, tok = gate_of(fleet, tid)
    task = run_gate(fleet, tid, tok, gate)
    assert task.state == State.READY and task.meta.get("retry_after") is None  # no back-off
    assert "## Feedback" in task.body and "gate tests failed" in task.body
    [first] = task.meta["gate"]["history"]
    assert first["outcome"] == "rejected" and first["exit_code"] == 1
    assert (root / first["log"]).is_file() and first["log"].endswith("/gates/tests.log")
    assert task.meta["gate"]["worker"] == "coder-1"
    # The second attempt: a new commit, the gate runs on it and passes.
    redo(fleet, repo, tid, "good work")
    gate, tok = gate_of(fleet, tid)
    task = run_gate(fleet, tid, tok, gate)
    head = git(repo, "rev-parse", f"aof/{tid}").strip()
    assert task.state == State.DONE
    last = task.meta["gate"]["history"][-1]
    assert last["outcome"] == "passed" and last["sha"] == head and last["round"] == 2
    assert "ALL-GREEN" in (root / last["log"]).read_text()
    # Rejections do not use up attempts: two claims, one rejection, one failed attempt.
    assert task.meta["attempts"] == 2
    actions = [r["action"] for r in AuditLog(root, fleet.clock).query(task=tid)]
    assert actions.count("gate_started") == 2 and "rejected" in actions
    assert actions[-1] == "gate_passed"


def test_the_third_rejection_blocks_the_task_and_raises_one_notification_event(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    repo = project(run, tmp_path, "max_rejections: 3\ngates:\n  - name: tests\n    run: 'false'\n")
    tid = worked(fleet, repo, "Never green", "try 1")
    for n in range(1, 4):
        gate, tok = gate_of(fleet, tid)
        task = run_gate(fleet, tid, tok, gate)
        if n < 3:
            assert task.state == State.READY
            redo(fleet, repo, tid, f"try {n + 1}")
    assert task.state == State.BLOCKED
    assert "max_rejections 3" in task.meta["blocked"]["reason"]
    events = [r.get("event") for r in AuditLog(root, fleet.clock).query(task=tid)]
    assert events.count("rejected_cap") == 1 and events.count("rejected") == 2


def test_a_commit_after_a_pass_runs_the_gate_again_before_done(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'true'\n  - name: qa\n")
    tid = worked(fleet, repo, "Two gates", "v1")
    gate, tok = gate_of(fleet, tid)
    task = run_gate(fleet, tid, tok, gate)
    assert task.state == State.REVIEW and task.meta["gate"]["current"] == "qa"
    assert task.meta["gate"]["kind"] == "human"
    commit_work(repo, tid, "v2, after the pass")  # someone committed after the gate passed
    task = fleet.approve(tid, note="fine")
    assert task.state == State.REVIEW and task.meta["gate"]["current"] == "tests"
    gate, tok = gate_of(fleet, tid)
    task = run_gate(fleet, tid, tok, gate)
    assert task.state == State.DONE  # qa was approved on this head already, in this round
    head = git(repo, "rev-parse", f"aof/{tid}").strip()
    passes = [h for h in task.meta["gate"]["history"] if h["gate"] == "tests"]
    assert passes[-1]["sha"] == head


def test_uncommitted_changes_fail_the_gate_and_a_person_cannot_approve_a_command_gate(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'true'\n")
    tid = worked(fleet, repo, "Dirty", "v1")
    with pytest.raises(InvalidTransition, match="command gate tests"):
        fleet.approve(tid)
    tree = root / ".aof" / "worktrees" / tid
    (tree / "work.txt").write_text("edited, not committed")
    gate, tok = gate_of(fleet, tid)
    with pytest.raises(InvalidTransition, match="already taken"):
        fleet.claim_gate(tid, "aof", "tests")
    task = run_gate(fleet, tid, tok, gate)
    assert task.state == State.READY and "uncommitted changes" in task.body
    with pytest.raises((LeaseError, InvalidTransition)):  # its token went with its result
        fleet.record_gate(tid, tok, {"gate": "tests", "exit_code": 0, "sha": "x"})


def test_a_hanging_gate_is_killed_at_its_timeout_with_its_process_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    gate = Gate(
        "hangs",
        "command",
        run=f"(sleep 300 & echo $! >> {pids}; wait) & echo $! >> {pids}; sleep 300",
        timeout_s=1.0,
    )
    log = tmp_path / "gates" / "hangs.log"
    began = time.monotonic()
    code, error, seconds = run_command(gate, tmp_path, log, dict(os.environ))
    assert code is None and error == "timed out after 1 s"
    assert seconds < 60 and time.monotonic() - began < 60
    assert "killed at its timeout" in log.read_text()
    for pid in [int(p) for p in pids.read_text().split()]:
        assert not _alive(pid), f"pid {pid} outlived the gate"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent, the gate's shell, is gone: init reaps it).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_the_daemons_gate_runner_runs_a_gate_on_its_own_thread(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    import logging

    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'true'\n")
    tid = worked(fleet, repo, "Threaded", "v1")
    runner = GateRunner(fleet, logging.getLogger("test"))
    assert runner.start(tid, "tests") is None
    assert runner.start(tid, "tests") is not None  # never twice at once
    runner.join(60)
    assert runner.active() == []
    assert fleet.get_task(tid).state == State.DONE


def test_end_group_ends_a_process_group(tmp_path: Path) -> None:
    proc = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300"], start_new_session=True)
    end_group(proc.pid, proc)
    assert proc.poll() is not None


def test_a_task_names_its_workflow_and_role_and_a_missing_workflow_is_refused(
    run: Cli, root: Path
) -> None:
    (root / "workflows" / "w.yaml").write_text("gates:\n  - name: tests\n    run: 'true'\n")
    t = run.json("task", "create", "Gated", "--workflow", "w", "--role", "coder")
    assert t["meta"]["workflow"] == "w" and t["meta"]["routing"] == {"role": "coder"}
    bad = run("task", "create", "Nowhere", "--workflow", "nope", code=6)
    assert "new task: workflow: no file workflows/nope.yaml" in bad.stderr
    (root / "workflows" / "broken.yaml").write_text("gates:\n  - name: t\n    shell: make\n")
    bad = run("task", "edit", t["id"], "--set", "workflow=broken", code=6)
    assert "workflows/broken.yaml: gates[0] (t).shell: unknown key" in bad.stderr


def test_a_gate_a_dead_daemon_left_running_is_ended_and_handed_out_again(
    fleet: Fleet, run: Cli, tmp_path: Path, root: Path
) -> None:
    import json

    from aof import layout
    from aof.runner.gates import end_leftovers

    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'true'\n")
    tid = worked(fleet, repo, "Orphaned", "v1")
    _gate, tok = gate_of(fleet, tid)
    orphan = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300"], start_new_session=True)
    record = layout.gate_process(root, tid)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": orphan.pid, "task": tid, "gate": "tests", "token": tok}))
    assert end_leftovers(fleet) == [tid]
    assert orphan.wait(timeout=30) is not None and not record.exists()
    task = fleet.get_task(tid)
    assert task.state == State.REVIEW and task.lease is None
    assert task.meta["gate"]["current"] == "tests" and not task.meta["gate"].get("failures")


def test_a_worker_run_that_ends_after_its_work_was_sent_back_is_completed_not_failed(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'false'\n")
    t = fleet.create_task("Late settle", project="app", ready=True, fields={"workflow": "w"})
    tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    commit_work(repo, t.id, "v1")
    fleet.complete(t.id, token=tok, summary="done")
    gate, gtok = gate_of(fleet, t.id)
    assert run_gate(fleet, t.id, gtok, gate).state == State.READY  # sent back first ...
    task, final = fleet.settle_run(t.id, tok, outcome="exited", reason="exit 0")
    assert final == "completed" and task.state == State.READY  # ... then the run ended
    tok2 = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    fleet.fail(t.id, error="could not finish", token=tok2)
    assert fleet.settle_run(t.id, tok2, outcome="exited", reason="exit 1")[1] == "failed"
