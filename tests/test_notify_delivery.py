"""Delivery: the worker reads the outbox from its cursor, sends to Apprise URLs (a real HTTP
server on 127.0.0.1), ``file:`` and ``command:`` channels, retries with back-off, digests a
storm, keeps secrets out of what it writes; ``aof notify test`` and ``aof notify list``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from aof import FixedClock, Fleet
from aof.notify.worker import DeliveryWorker

from .conftest import Cli
from .notify_helpers import ask, closed_port, hook_server, set_notify


def worker(root: Path, clock: FixedClock, environ: dict[str, str] | None = None) -> DeliveryWorker:
    fleet = Fleet(root, clock=clock)
    log = logging.getLogger(f"test-notify-{id(fleet)}")
    return DeliveryWorker.of(fleet, log, environ if environ is not None else {})


def section(channels: dict[str, str], events: str = "all", extra: str = "") -> str:
    lines = ["notify:", "  channels:"]
    lines += [f'    {name}: "{url}"' for name, url in channels.items()]
    lines += ["  rules:", f"    - events: [{events}]", f"      channels: [{', '.join(channels)}]"]
    return "\n".join(lines) + "\n" + extra


def test_an_event_is_posted_once_with_the_task_and_what_to_do(
    root: Path, clock: FixedClock
) -> None:
    with hook_server() as hook:
        set_notify(root, section({"ops": hook.url()}))
        fleet = Fleet(root, clock=clock, commit=False)
        tid = ask(fleet, "Fix the login bug", "OAuth or passwords?")
        w = worker(root, clock)
        w.step()
        w.step()
        assert hook.count() == 1
        path, body = hook.posts[0]
        assert path == "/hook" and body["type"] == "warning"
        assert body["title"] == f"aof asked: {tid} Fix the login bug"
        assert "Reason: OAuth or passwords?" in body["message"]
        assert f"aof task answer {tid} --text" in body["message"]
        # a new worker (a restarted daemon) finds it delivered: never twice
        worker(root, clock).step(draining=True)
        assert hook.count() == 1


def test_the_worker_reads_only_what_was_appended_since_its_cursor(
    root: Path, clock: FixedClock
) -> None:
    set_notify(root, section({"log": "file:log.jsonl"}, extra="  storm_per_minute: 100\n"))
    fleet = Fleet(root, clock=clock, commit=False)
    for i in range(30):
        ask(fleet, f"task {i}")
    w = worker(root, clock)
    w.step()
    outbox = root / ".aof" / "notify" / "outbox.jsonl"
    size = outbox.stat().st_size
    assert w.last_read == size and w.state.cursor.offset == size
    assert len((root / ".aof" / "log.jsonl").read_text().splitlines()) == 30
    w.step()
    assert w.last_read == 0  # nothing new: nothing read
    ask(fleet, "one more")
    grown = outbox.stat().st_size
    w.step()
    assert w.last_read == grown - size  # the new line only, never the 30 before it
    assert w.state.cursor.offset == grown
    # the state on disk says the same
    saved = json.loads((root / ".aof" / "notify" / "state.json").read_text())
    assert saved["cursor"]["offset"] == grown and saved["pending"] == {}


def test_a_storm_arrives_as_a_digest_that_lists_the_events(root: Path, clock: FixedClock) -> None:
    with hook_server() as hook:
        set_notify(root, section({"ops": hook.url()}, extra="  storm_per_minute: 5\n"))
        fleet = Fleet(root, clock=clock, commit=False)
        ids = [ask(fleet, f"storm {i}") for i in range(50)]
        w = worker(root, clock)
        w.step()
        assert hook.count() == 5  # one by one up to the limit, the rest held
        w.step(draining=True)  # the daemon stopping (or DIGEST_HOLD_S later): the digest
        assert 1 < hook.count() < 50
        digest = hook.messages()[-1]
        assert hook.posts[-1][1]["title"].startswith("aof: 45 events in fleet")
        assert all(tid in digest for tid in ids[5:])
        listed = Cli(root).json("notify", "list", "--limit", "50")
        statuses = [e["deliveries"]["ops"] for e in listed["events"]]
        assert all(s["status"] == "delivered" for s in statuses)
        assert [s.get("digest") for s in statuses].count(45) == 45
        assert listed["counts"] == {"ops": {"delivered": 50}}


def test_a_failing_channel_is_retried_with_backoff_then_delivered(
    root: Path, clock: FixedClock
) -> None:
    with hook_server() as hook:
        hook.status = 500
        retry = "  retry: {attempts: 5, base_s: 10, max_s: 60}\n"
        set_notify(root, section({"ops": hook.url()}, extra=retry))
        fleet = Fleet(root, clock=clock, commit=False)
        ask(fleet)
        w = worker(root, clock)
        w.step()
        assert hook.count() == 1
        listed = Cli(root).json("notify", "list")
        ops = listed["events"][0]["deliveries"]["ops"]
        assert ops["status"] == "retrying" and ops["next_at"] == "2026-11-21T09:00:10Z"
        assert "500" in ops["error"]
        w.step()
        assert hook.count() == 1  # not before its time
        clock.advance(10)
        w.step()
        assert hook.count() == 2  # the second attempt; the next waits 20 s
        assert w.state.pending[next(iter(w.state.pending))]["channels"]["ops"]["next_at"] == (
            "2026-11-21T09:00:30Z"
        )
        hook.status = 200
        clock.advance(20)
        w.step()
        assert hook.count() == 3
        listed = Cli(root).json("notify", "list")
        ops = listed["events"][0]["deliveries"]["ops"]
        assert ops["status"] == "delivered" and ops["attempts"] == 3
        assert listed["counts"] == {"ops": {"retrying": 2, "delivered": 1}}


def test_a_closed_port_fails_for_good_after_its_attempts(root: Path, clock: FixedClock) -> None:
    url = f"json://127.0.0.1:{closed_port()}/hook"
    set_notify(root, section({"ops": url}, extra="  retry: {attempts: 2, base_s: 1}\n"))
    fleet = Fleet(root, clock=clock, commit=False)
    ask(fleet)
    w = worker(root, clock)
    w.step()
    clock.advance(1)
    w.step()
    listed = Cli(root).json("notify", "list")
    ops = listed["events"][0]["deliveries"]["ops"]
    assert ops["status"] == "failed" and ops["attempts"] == 2
    assert "connection" in ops["error"].lower()
    assert listed["unsettled"] == 0
    text = Cli(root)("notify", "list").stdout
    assert "ops: failed after 2 attempt(s):" in text


def test_file_and_command_channels(root: Path, clock: FixedClock) -> None:
    command = (
        'command:sh -c \'cat > "$AOF_ROOT/.aof/cmd-body.txt"; '
        'echo "$AOF_EVENT $AOF_TASK $AOF_SEVERITY" > "$AOF_ROOT/.aof/cmd-env.txt"\''
    )
    set_notify(
        root,
        'notify:\n  channels:\n    log: "file:notes/n.jsonl"\n'
        f"    pager: {json.dumps(command)}\n"
        "  rules:\n    - events: [all]\n      channels: [log, pager]\n",
    )
    fleet = Fleet(root, clock=clock, commit=False)
    tid = ask(fleet, "Fix it", "left or right?")
    worker(root, clock).step()
    [line] = [json.loads(x) for x in (root / ".aof" / "notes" / "n.jsonl").read_text().splitlines()]
    assert line["event"] == "asked" and line["task"] == tid and line["title"].endswith("Fix it")
    assert "left or right?" in line["message"]
    assert "Reason: left or right?" in (root / ".aof" / "cmd-body.txt").read_text()
    assert (root / ".aof" / "cmd-env.txt").read_text().split() == ["asked", tid, "warning"]


def test_a_failing_command_and_a_missing_variable_fail_that_delivery_only(
    root: Path, clock: FixedClock
) -> None:
    set_notify(
        root,
        section(
            {
                "phone": "ntfy://${NTFY_TOPIC_NOT_SET}",
                "pager": "command:sh -c 'echo nope >&2; exit 3'",
                "log": "file:log.jsonl",
            }
        ),
    )
    fleet = Fleet(root, clock=clock, commit=False)
    ask(fleet)
    worker(root, clock).step()
    deliveries = Cli(root).json("notify", "list")["events"][0]["deliveries"]
    assert deliveries["log"]["status"] == "delivered"
    assert deliveries["phone"]["status"] == "retrying"
    assert deliveries["phone"]["error"] == (
        "channel phone: environment variable NTFY_TOPIC_NOT_SET is not set"
    )
    assert deliveries["pager"]["error"] == "exit 3: nope"


def test_secrets_never_reach_aof_files_or_the_listing(root: Path, clock: FixedClock) -> None:
    secret = "s3cr3t-token-9f8e7d"
    with hook_server() as hook:
        hook.status = 500
        set_notify(root, section({"ops": hook.url("/hooks/${HOOK_TOKEN}")}))
        fleet = Fleet(root, clock=clock, commit=False)
        ask(fleet)
        w = worker(root, clock, {"HOOK_TOKEN": secret})
        w.step()
        assert hook.posts[0][0] == f"/hooks/{secret}"  # expanded when sending
        listed = Cli(root)("notify", "list", "--json").stdout
        assert secret not in listed
        assert json.loads(listed)["channels"] == {"ops": f"json://127.0.0.1:{hook.port}"}
    for path in (root / ".aof").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_notify_test_sends_now_and_names_each_failure(run: Cli, root: Path) -> None:
    with hook_server() as hook:
        port = closed_port()
        set_notify(
            root,
            section({"ops": hook.url(), "down": f"json://127.0.0.1:{port}/x", "log": "file:t"}),
        )
        ok = run.json("notify", "test", "ops")
        assert ok == [
            {"channel": "ops", "target": f"json://127.0.0.1:{hook.port}", "ok": True, "error": None}
        ]
        assert "a test message" in hook.messages()[0]
        result = run("notify", "test", code=1)
        assert "down" in result.stderr and "1 channel(s) failed" in result.stderr
        assert f"down         json://127.0.0.1:{port}" in result.stdout
        assert "FAILED:" in result.stdout and "log " in result.stdout
        unknown = run("notify", "test", "nope", code=3)
        assert "no channel 'nope' (channels: down, log, ops)" in unknown.stderr


def test_notify_commands_without_a_notify_section(run: Cli, root: Path) -> None:
    result = run("notify", "test", code=None)
    assert result.exit_code != 0 and "notify.channels: no channel is configured" in result.stderr
    data: dict[str, Any] = run.json("notify", "list")
    assert data["events"] == [] and data["counts"] == {}
    assert not (root / ".aof" / "notify").exists()  # listing writes nothing
