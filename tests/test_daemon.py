"""The daemon's tick, in-process with a fixed clock and a recording executor.

The executor double implements the same ``Executor`` interface as the local one; the real
subprocess executor and the demo coder are exercised in test_daemon_integration.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet, SeededIds, State
from aof.journal.audit import tail
from aof.model.task import token_sha256
from aof.runner.executor import RunSpec, RunStatus
from aof.scheduler.daemon import Daemon, daemon_info
from aof.scheduler.watch import Watcher

from .conftest import git, git_clean, set_default_coder


class RecordingExecutor:
    """Runs nothing; the test decides when each run ends and with which code."""

    def __init__(self) -> None:
        self.specs: dict[str, RunSpec] = {}
        self.exited: dict[str, int | None] = {}
        self.cancelled: list[tuple[str, bool]] = []

    def token_of(self, task_id: str) -> str:
        """The lease token the last run of ``task_id`` was given (files keep only its hash)."""
        return [s.token for s in self.specs.values() if s.task_id == task_id][-1]

    def submit(self, spec: RunSpec) -> RunStatus:
        self.specs[spec.run_id] = spec
        return self.status(spec.run_id)  # type: ignore[return-value]

    def status(self, run_id: str) -> RunStatus | None:
        spec = self.specs.get(run_id)
        if spec is None:
            return None
        status = RunStatus.starting(spec, pid=None, started="2026-11-21T09:00:00Z")
        if run_id in self.exited:
            status.state, status.exit_code = "exited", self.exited[run_id]
        return status

    def runs(self) -> list[RunStatus]:
        return [s for r in sorted(self.specs) if (s := self.status(r)) is not None]

    def cancel(self, run_id: str, force: bool = False) -> None:
        self.cancelled.append((run_id, force))

    def logs(self, run_id: str, lines: int = 50) -> str:
        return ""

    def forget(self, run_id: str) -> None:
        self.specs.pop(run_id, None)
        self.exited.pop(run_id, None)

    def exit(self, task_id: str, code: int | None = 0) -> None:
        for run_id, spec in self.specs.items():
            if spec.task_id == task_id:
                self.exited[run_id] = code


def set_config(root: Path, **scheduler: Any) -> None:
    text = (root / "aof.yaml").read_text()
    for key, value in scheduler.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith(f"{key}:"):
                indent = line[: len(line) - len(line.lstrip())]
                lines[i] = f"{indent}{key}: {value}"
        text = "\n".join(lines) + "\n"
    (root / "aof.yaml").write_text(text)
    commit_all(root, "config")


def commit_all(root: Path, message: str) -> None:
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message)


@pytest.fixture
def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
def daemon(root: Path, clock: FixedClock, executor: RecordingExecutor) -> Any:
    git(root, "config", "user.name", "Ada Lovelace")
    git(root, "config", "user.email", "ada@example.com")
    set_default_coder(root)
    d = Daemon(
        root, clock=clock, ids=SeededIds(9), executor=executor, watch=False, log_to_stderr=False
    )
    d.acquire()
    yield d
    d.shutdown()


def ready(fleet: Fleet, n: int, **kw: Any) -> list[str]:
    return [fleet.create_task(f"Task {i}", ready=True, **kw).id for i in range(n)]


def test_a_tick_dispatches_within_the_limit_in_one_commit(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, root: Path
) -> None:
    ids = ready(fleet, 6)
    before = int(git(root, "rev-list", "--count", "HEAD"))
    report = daemon.tick()
    assert len(report["dispatched"]) == 4  # scheduler.max_concurrent defaults to 4
    assert int(git(root, "rev-list", "--count", "HEAD")) == before + 1
    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("daemon tick 1: 4 changes")
    assert "Plan-Digest: sha256:" in message and "Plan-At: 2026-11-21T09:00:00Z" in message
    assert git_clean(root)
    specs = list(executor.specs.values())
    assert {s.task_id for s in specs} <= set(ids)
    for spec in specs:
        task = fleet.get_task(spec.task_id)
        assert task.state == State.IN_PROGRESS
        assert spec.env["AOF_LEASE_TOKEN"] == spec.token
        assert task.lease["token_sha256"] == token_sha256(spec.token)
        assert spec.env["AOF_TASK_ID"] == spec.task_id
        assert spec.env["AOF_ACTOR"] == "agent:demo"
        assert spec.argv[1:] == ["-m", "aof.coders.demo_coder"]


def test_the_recorded_tick_replays_to_the_same_plan(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, clock: FixedClock
) -> None:
    first = ready(fleet, 2, priority="high")
    ready(fleet, 5)
    daemon.tick()
    # Leases pushed on by heartbeats (the daemon renews live runs) live outside git: the
    # tick's commit records them, and the replay uses them instead of the files' expiries.
    clock.advance(1100)  # past the files' expiries
    token = executor.token_of(first[1])
    Fleet(fleet.root, clock=clock, actor="agent:demo").complete(first[1], token=token, summary="ok")
    executor.exit(first[1], 0)
    report = daemon.tick()
    assert len(report["dispatched"]) == 1
    assert report["commit"] is not None
    assert first[0] in git(fleet.root, "log", "-1", "--format=%B").split("Plan-Heartbeats: ")[1]
    replayed = fleet.replay(report["commit"])
    assert replayed["match"], replayed
    assert replayed["digest"] == report["digest"]
    assert first[0] not in {a["task"] for a in replayed["plan"]["actions"] if a["kind"] == "expire"}


def test_replay_finds_the_latest_tick_at_or_before_any_ref(
    fleet: Fleet, daemon: Daemon, root: Path, run: Any
) -> None:
    ready(fleet, 2)
    tick = daemon.tick()["commit"]
    fleet.create_task("A person's task after the tick")  # HEAD is now a human's commit
    head = git(root, "rev-parse", "HEAD").strip()
    assert head != tick
    out = run.json("plan", "--replay", "HEAD")
    assert (out["commit"], out["ref"], out["ref_commit"]) == (tick, "HEAD", head)
    assert out["match"] is True
    text = run("plan", "--replay", "HEAD").stdout
    assert text.startswith(f"replayed tick {tick[:10]} (the latest tick at or before HEAD, ")
    assert "matches the recorded" in text
    assert run("plan", "--replay", tick[:8]).stdout.startswith(f"replayed tick {tick[:10]} at ")


def test_replay_without_a_tick_before_ref_is_one_clear_error(
    fleet: Fleet, daemon: Daemon, root: Path, run: Any
) -> None:
    ready(fleet, 1)
    before = git(root, "rev-parse", "HEAD").strip()
    daemon.tick()
    out = run("plan", "--replay", before, code=3)
    assert out.stderr == (
        f"Error: no daemon tick at or before '{before}' ({before[:10]}): `aof daemon` records "
        "one commit per tick that changes something, with a Plan-Digest trailer\n"
    )
    assert out.stdout == ""
    nothing = run("plan", "--replay", "no-such-branch", code=3)
    assert nothing.stderr == (
        "Error: commit 'no-such-branch': not found in the fleet root's history\n"
    )


def test_a_coder_that_exits_without_reporting_costs_an_attempt(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor
) -> None:
    (tid,) = ready(fleet, 1)
    daemon.tick()
    executor.exit(tid, 0)
    report = daemon.tick()
    assert report["settled"][0]["outcome"] == "exited-without-reporting"
    task = fleet.get_task(tid)
    assert task.state == State.READY
    assert task.meta["attempts"] == 1
    assert "exited with code 0 without reporting" in task.meta["last_error"]
    assert task.meta["retry_after"] > "2026-11-21T09:00:00Z"  # backs off before the retry
    assert not executor.specs  # the run was forgotten


def test_a_coder_that_reported_is_left_alone(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor
) -> None:
    (tid,) = ready(fleet, 1)
    daemon.tick()
    token = executor.token_of(tid)
    Fleet(fleet.root, clock=fleet.clock, actor="agent:demo").complete(
        tid, token=token, summary="done"
    )
    executor.exit(tid, 0)
    report = daemon.tick()
    assert report["settled"][0]["outcome"] == "completed"
    assert fleet.get_task(tid).state == State.DONE


def test_the_daemon_renews_leases_of_live_runs(
    fleet: Fleet, root: Path, clock: FixedClock, executor: RecordingExecutor
) -> None:
    set_config(root, lease_ttl_s=60)
    set_default_coder(root)
    d = Daemon(root, clock=clock, executor=executor, watch=False, log_to_stderr=False)
    (tid,) = ready(fleet, 1)
    d.tick()
    for _ in range(6):  # 5 minutes, five times the TTL, with the run alive all along
        clock.advance(50)
        report = d.tick()
        assert not [a for a in report["applied"] if a["kind"] == "expire"]
    assert fleet.get_task(tid).state == State.IN_PROGRESS
    # Without the daemon's renewals, the lease runs out and the planner expires it.
    clock.advance(61)
    assert [a["kind"] for a in Fleet(root, clock=clock).plan()["actions"]] == ["expire"]
    d.shutdown()


def test_a_run_that_lost_its_lease_is_stopped(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor, clock: FixedClock
) -> None:
    (tid,) = ready(fleet, 1)
    daemon.tick()
    with fleet.overriding("not needed any more"):  # the daemon's run holds it
        fleet.cancel(tid, reason="not needed any more")
    clock.advance(3600)  # past the renewal interval
    daemon.tick()
    assert executor.cancelled == [(f"{tid}.1", False)]


def test_a_run_whose_agent_reported_gets_time_to_end_by_itself(
    fleet: Fleet,
    daemon: Daemon,
    executor: RecordingExecutor,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent completed (its lease went with the report) and is still writing its last
    lines: the refused heartbeat does not signal it at once, only after KILL_AFTER_S."""
    import aof.scheduler.supervise as supervise

    (tid,) = ready(fleet, 1)
    daemon.tick()
    agent = Fleet(fleet.root, clock=fleet.clock, actor="agent:demo")
    agent.complete(tid, token=executor.token_of(tid), summary="done")
    clock.advance(3600)  # past the renewal interval: the heartbeat is tried and refused
    daemon.tick()
    assert executor.cancelled == []
    monkeypatch.setattr(supervise, "KILL_AFTER_S", 0.0)
    daemon.tick()
    assert executor.cancelled == [(f"{tid}.1", False)]


def test_an_unknown_coder_blocks_the_task_with_the_reason(
    fleet: Fleet, daemon: Daemon, executor: RecordingExecutor
) -> None:
    tid = fleet.create_task("Needs a special coder", ready=True, fields={"coder": "wizard"}).id
    daemon.tick()
    task = fleet.get_task(tid)
    assert task.state == State.BLOCKED
    assert "coder 'wizard' is not known" in task.meta["blocked"]["reason"]
    assert not executor.specs


def test_a_missing_coder_program_is_not_dispatched_and_costs_no_attempt(
    fleet: Fleet, root: Path, daemon: Daemon, executor: RecordingExecutor
) -> None:
    from aof.runner.executor import LocalExecutor

    text = (root / "aof.yaml").read_text()
    text += "coders:\n  ghost:\n    command: [/nonexistent/ghost-coder, '{task_id}']\n"
    (root / "aof.yaml").write_text(text)
    commit_all(root, "ghost coder")
    daemon.executor = LocalExecutor(root)
    tid = fleet.create_task("Run by a ghost", ready=True, fields={"coder": "ghost"}).id
    assert daemon.tick()["dispatched"] == []
    task = fleet.get_task(tid)
    assert task.state == State.READY and task.meta.get("attempts", 0) == 0
    assert Fleet(root, clock=fleet.clock).why(tid) == (
        f"{tid} is ready but not dispatched: coder ghost not installed: "
        "`/nonexistent/ghost-coder` does not exist or is not executable."
    )


def test_max_concurrent_is_reloaded_without_restart(
    fleet: Fleet, root: Path, daemon: Daemon, executor: RecordingExecutor
) -> None:
    set_config(root, max_concurrent=1)
    ready(fleet, 5)
    assert len(daemon.tick()["dispatched"]) == 1
    assert len(daemon.tick()["dispatched"]) == 0
    set_config(root, max_concurrent=3)
    assert len(daemon.tick()["dispatched"]) == 2
    log = (root / "runs" / "daemon.log").read_text()
    assert "reloaded aof.yaml: scheduler.max_concurrent: 1 -> 3" in log


def test_a_broken_config_keeps_the_last_good_one(fleet: Fleet, root: Path, daemon: Daemon) -> None:
    ready(fleet, 2)
    (root / "aof.yaml").write_text("scheduler:\n  max_concurrent: -3\n")
    report = daemon.tick()
    assert len(report["dispatched"]) == 2
    log = (root / "runs" / "daemon.log").read_text()
    assert "aof.yaml not reloaded, keeping the last good one" in log
    assert "max_concurrent" in log


def hand_edit(fleet: Fleet, old: str, new: str, *, age_s: float = 10) -> tuple[str, Path]:
    """A person's edit of a new task's file, made ``age_s`` ago; (task id, path)."""
    task = fleet.create_task("Write the docs")
    path = fleet.get_task(task.id).path
    path.write_text(path.read_text().replace(old, new))
    _age(path, age_s)
    return task.id, path


def _age(path: Path, seconds: float = 10) -> None:
    """Make ``path`` look changed ``seconds`` ago, by the file system's clock (not this
    process's wall clock, which may be elsewhere: `make date-check`)."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))


def test_a_human_edit_is_validated_audited_and_committed_as_human(
    fleet: Fleet, root: Path, daemon: Daemon
) -> None:
    tid, path = hand_edit(fleet, "title: Write the docs", "title: Write the user docs")
    daemon._commit_leftovers(None)
    assert git_clean(root)
    assert git(root, "log", "-1", "--format=%an|%s") == (
        f"human:ada-lovelace|{fleet.tasks.rel(path)}: edited (human:ada-lovelace)\n"
    )
    record = tail(fleet.audit, 1)[0]
    assert record["action"] == "edited"
    assert record["actor"] == {"kind": "human", "id": "ada-lovelace"}
    assert record["entity"] == {"kind": "task", "id": tid}


def test_an_invalid_human_edit_is_reported_once_and_never_committed(
    fleet: Fleet, root: Path, daemon: Daemon
) -> None:
    _, path = hand_edit(fleet, "priority: normal", "priority: urgent")
    head = git(root, "rev-parse", "HEAD")
    daemon._commit_leftovers(None)
    daemon._commit_leftovers(None)
    assert git(root, "rev-parse", "HEAD") == head
    assert not git_clean(root)  # left for the person to fix
    log = (root / "runs" / "daemon.log").read_text()
    assert log.count("not committing") == 1
    assert "priority" in log and "urgent" in log
    assert fleet.tasks.rel(path) in log


def test_a_fresh_file_is_left_for_the_next_sweep(fleet: Fleet, root: Path, daemon: Daemon) -> None:
    _, path = hand_edit(fleet, "Write the docs", "Write more docs", age_s=0)
    head = git(root, "rev-parse", "HEAD")
    daemon._commit_leftovers(None)
    assert git(root, "rev-parse", "HEAD") == head  # too fresh: may be aof's own, mid-commit
    _age(path)
    daemon._commit_leftovers(set())  # nothing named, but a young file forces a full sweep
    assert git(root, "rev-parse", "HEAD") != head


def test_batch_mode_defers_cli_commits_to_the_daemon(
    root: Path, clock: FixedClock, executor: RecordingExecutor
) -> None:
    text = (root / "aof.yaml").read_text().replace("commit: each", "commit: batch")
    (root / "aof.yaml").write_text(text)
    commit_all(root, "batch")
    head = git(root, "rev-parse", "HEAD")
    cli_fleet = Fleet(root, clock=clock, actor="human:tester")
    ids = [cli_fleet.create_task(f"Deferred {i}").id for i in range(3)]
    assert git(root, "rev-parse", "HEAD") == head
    assert len(cli_fleet.git.pending()) == 3
    d = Daemon(root, clock=clock, executor=executor, watch=False, log_to_stderr=False)
    d.tick()
    assert git_clean(root)
    assert int(git(root, "rev-list", "--count", f"{head.strip()}..HEAD")) == 1
    body = git(root, "log", "-1", "--format=%B")
    assert body.startswith("deferred: 3 changes")
    assert all(i in body for i in ids)
    assert not cli_fleet.git.pending()
    d.shutdown()


def test_a_second_daemon_is_refused_naming_the_first(root: Path, daemon: Daemon) -> None:
    from aof.errors import DaemonRunning

    daemon._write_state("running")
    other = Daemon(root, watch=False, log_to_stderr=False)
    with pytest.raises(DaemonRunning, match=rf"pid {os.getpid()} on "):
        other.acquire()
    assert daemon_info(root)["running"] is True


def test_the_watcher_wakes_on_task_edits_and_ignores_editor_temps(root: Path) -> None:
    wake = threading.Event()
    watcher = Watcher(root, wake)
    assert watcher.start() is None
    try:
        (root / "tasks" / "ready" / ".t-abc-x.md.swp").write_text("x")
        (root / "tasks" / "ready" / "t-abc-x.md~").write_text("x")
        assert not wake.wait(0.5)
        (root / "tasks" / "ready" / "t-abcdef-fix.md").write_text("x")
        assert wake.wait(5)
        assert watcher.drain() == {"tasks/ready/t-abcdef-fix.md"}
    finally:
        watcher.stop()
