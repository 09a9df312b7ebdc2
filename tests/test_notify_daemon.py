"""Notifications end to end: events raised by `aof` commands, delivered by a real `aof daemon`
process to a real HTTP server; once, across restarts; failures retried and visible in
`aof notify list`; secrets out of the daemon's log; `daemon_degraded` from the daemon."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aof import FixedClock, Fleet
from aof.scheduler.daemon import Daemon

from .conftest import sub_env
from .notify_helpers import hook_server, set_notify, wait_for

pytestmark = pytest.mark.slow


def aof(aof_bin: str, root: Path, *args: str, **env: str) -> Any:
    return subprocess.run(
        [aof_bin, "--root", str(root), *args],
        env=sub_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_daemon(aof_bin: str, root: Path, **env: str) -> subprocess.Popen[bytes]:
    (root / "runs").mkdir(exist_ok=True)
    with open(root / "runs" / "daemon.stderr", "ab") as err:
        return subprocess.Popen(
            [aof_bin, "--root", str(root), "daemon", "--interval", "0.5", "--quiet"],
            env=sub_env(**env),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def ticks(root: Path, pid: int) -> int:
    """The ticks of the running daemon ``pid`` (0 before it says it runs)."""
    try:
        info = json.loads((root / ".aof" / "daemon.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(info["ticks"]) if info.get("pid") == pid and info["state"] == "running" else 0


def asked_by_cli(aof_bin: str, root: Path) -> str:
    """A question asked through the CLI: create, claim, block (one `asked` event)."""
    made = aof(aof_bin, root, "task", "create", "Fix login", "--ready", "--json")
    tid = json.loads(made.stdout)["id"]
    claim = json.loads(aof(aof_bin, root, "task", "claim", tid, "--agent", "a1", "--json").stdout)
    token = claim["token"]
    done = aof(aof_bin, root, "task", "block", tid, "--question", "which way?", "--token", token)
    assert done.returncode == 0, done.stderr
    return tid


def test_an_event_reaches_the_hook_once_and_not_again_after_a_restart(
    aof_bin: str, root: Path
) -> None:
    with hook_server() as hook:
        set_notify(
            root,
            f'notify:\n  channels:\n    ops: "{hook.url()}"\n'
            "  rules:\n    - events: [asked, deadletter]\n      channels: [ops]\n",
        )
        daemon = start_daemon(aof_bin, root)
        try:
            wait_for(lambda: ticks(root, daemon.pid) >= 1, 60, "the daemon's first tick")
            tid = asked_by_cli(aof_bin, root)
            wait_for(lambda: hook.count() >= 1, 30, "the notification")
            before = ticks(root, daemon.pid)
            wait_for(lambda: ticks(root, daemon.pid) >= before + 2, 60, "two more ticks")
        finally:
            stop(daemon)
        assert hook.count() == 1
        assert f"aof asked: {tid} Fix login" == hook.posts[0][1]["title"]
        again = start_daemon(aof_bin, root)
        try:
            wait_for(lambda: ticks(root, again.pid) >= 2, 60, "the restarted daemon's ticks")
        finally:
            stop(again)
        assert hook.count() == 1
        listed = json.loads(aof(aof_bin, root, "notify", "list", "--json").stdout)
        assert listed["events"][0]["deliveries"]["ops"]["status"] == "delivered"
        assert listed["counts"] == {"ops": {"delivered": 1}}


def test_a_failing_hook_is_retried_visibly_and_secrets_stay_out_of_the_log(
    aof_bin: str, root: Path
) -> None:
    secret = "tok-7d1e55aa90"
    with hook_server() as hook:
        hook.status = 500
        set_notify(
            root,
            f'notify:\n  channels:\n    ops: "{hook.url("/h/${HOOK_SECRET}")}"\n'
            "  rules:\n    - events: [all]\n      channels: [ops]\n"
            "  retry: {attempts: 20, base_s: 0.3, max_s: 1}\n",
        )
        daemon = start_daemon(aof_bin, root, HOOK_SECRET=secret)
        try:
            wait_for(lambda: ticks(root, daemon.pid) >= 1, 60, "the daemon's first tick")
            asked_by_cli(aof_bin, root)
            wait_for(lambda: hook.count() >= 2, 30, "a retry after the first failure")

            def retrying() -> Any:
                listed = json.loads(aof(aof_bin, root, "notify", "list", "--json").stdout)
                ops = listed["events"][0]["deliveries"]["ops"]
                return ops if ops["status"] == "retrying" else None

            ops = wait_for(retrying, 30, "the retry in notify list")
            assert "500" in ops["error"] and ops["next_at"]
            hook.status = 200

            def delivered() -> Any:
                listed = json.loads(aof(aof_bin, root, "notify", "list", "--json").stdout)
                ok = listed["events"][0]["deliveries"]["ops"]["status"] == "delivered"
                return listed if ok else None

            listed = wait_for(delivered, 30, "the delivery after the hook recovered")
        finally:
            stop(daemon)
        assert listed["counts"]["ops"]["delivered"] == 1
        assert listed["counts"]["ops"]["retrying"] >= 1
        assert all(path == f"/h/{secret}" for path, _ in hook.posts)
    log = (root / "runs" / "daemon.log").read_text()
    assert "notify: aof asked:" in log and "retrying at" in log
    assert secret not in log
    assert secret not in (root / "runs" / "daemon.stderr").read_text()
    for path in (root / ".aof").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_broken_aof_yaml_raises_daemon_degraded(root: Path, clock: FixedClock) -> None:
    set_notify(
        root,
        'notify:\n  channels:\n    log: "file:degraded.jsonl"\n'
        "  rules:\n    - events: [daemon_degraded]\n      channels: [log]\n",
    )
    daemon = Daemon(root, clock=clock, watch=False, log_to_stderr=False)
    daemon.start()
    try:
        daemon.tick()
        text = (root / "aof.yaml").read_text()
        (root / "aof.yaml").write_text(text + "scheduler: [not, a, mapping]\n")
        daemon.tick()
        daemon.tick()  # reported once per version of the file
    finally:
        daemon.shutdown()
    lines = [json.loads(x) for x in (root / ".aof" / "degraded.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines] == ["daemon_degraded"]
    assert lines[0]["severity"] == "urgent"
    assert "aof.yaml not reloaded" in lines[0]["reason"] and "scheduler" in lines[0]["reason"]


def test_daemon_once_delivers_what_it_raised_before_it_exits(root: Path, clock: FixedClock) -> None:
    with hook_server() as hook:
        set_notify(
            root,
            f'notify:\n  channels:\n    ops: "{hook.url()}"\n'
            "  rules:\n    - events: [sla_breached]\n      channels: [ops]\n",
        )
        fleet = Fleet(root, clock=clock, actor="human:tester")
        task = fleet.create_task("Ship the release", sla=["ready=1h"])
        fleet.promote(task.id)
        clock.advance(3601)
        Daemon(root, clock=clock, watch=False, log_to_stderr=False).run(once=True)
        assert hook.count() == 1
        body = hook.posts[0][1]
        assert body["title"] == f"aof sla_breached: {task.id} Ship the release"
        assert "ready for longer than its SLA of 1h" in body["message"]
        assert f"aof why {task.id}" in body["message"]


def test_a_tick_that_raises_is_reported_before_the_daemon_stops(
    root: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_notify(
        root,
        'notify:\n  channels:\n    log: "file:degraded.jsonl"\n'
        "  rules:\n    - events: [all]\n      channels: [log]\n",
    )
    daemon = Daemon(root, clock=clock, watch=False, log_to_stderr=False)

    def broken() -> dict[str, Any]:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(daemon, "tick", broken)
    with pytest.raises(RuntimeError):
        daemon.run(once=True)
    [ev] = [json.loads(x) for x in (root / ".aof" / "degraded.jsonl").read_text().splitlines()]
    assert ev["event"] == "daemon_degraded"
    assert ev["reason"] == "a tick failed: RuntimeError: the disk is on fire"
