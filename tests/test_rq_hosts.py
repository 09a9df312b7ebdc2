"""Hosts at run time: workers' heartbeats in `aof host list`, a silent host is down (daemon
health, one host_down notification per silence), aof.yaml's executor section checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from aof import Fleet
from aof.clock import FixedClock
from aof.errors import ConfigError
from aof.fleetapi import health, host_heartbeat, host_rows
from aof.model.config import load_config
from aof.ops.hosts import find_down

from .conftest import Cli
from .notify_helpers import outbox_lines


def setup(root: Path, run: Cli) -> None:
    with (root / "aof.yaml").open("a") as f:
        f.write(
            "hosts: {down_after_s: 30}\n"
            "notify:\n  channels: {log: 'file:notes.jsonl'}\n"
            "  rules:\n    - events: [host_down]\n      channels: [log]\n"
        )
    run(
        *("host", "create", "--slug", "mini", "--name", "Mini", "--address", "10.0.0.7"),
        *("--platform", "macos", "--capacity-slots", "3"),
    )


def test_a_silent_host_is_down_once_per_silence(root: Path, run: Cli, clock: FixedClock) -> None:
    setup(root, run)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    beat = {"workers": ["mini.1.ab", "mini.2.cd"], "slots": 2, "slots_used": 1}
    assert host_heartbeat(fleet, "mini", beat)["capacity_slots"] == 3
    (row,) = host_rows(fleet)
    assert (row["workers"], row["slots_used"], row["down"]) == (beat["workers"], 1, False)
    assert run.json("host", "list")[0]["workers"] == beat["workers"]
    assert "2 worker(s), 1/2 slots used" in run("host", "list").stdout
    assert health(fleet)["hosts_down"] == []
    clock.advance(31)
    assert [r["slug"] for r in find_down(fleet)] == ["mini"]
    assert [r["slug"] for r in find_down(fleet)] == ["mini"]  # still down: told once
    assert [e["event"] for e in outbox_lines(root)] == ["host_down"]
    assert "no heartbeat from its workers for 31 s" in outbox_lines(root)[0]["reason"]
    assert health(fleet)["hosts_down"] == ["mini"]
    assert host_rows(fleet)[0]["down"] is True
    host_heartbeat(fleet, "mini", {"workers": ["mini.3.ef"], "slots": 2, "slots_used": 0})
    assert find_down(fleet) == []
    clock.advance(31)
    find_down(fleet)  # a new silence: told again
    assert [e["event"] for e in outbox_lines(root)] == ["host_down", "host_down"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("executor: {kind: celery}", "executor.kind: must be local or rq (got 'celery')"),
        ("executor: {kind: rq, api_url: 'http://c:8780'}", "executor.redis_url: must be set"),
        (
            "executor: {kind: rq, redis_url: 'redis://q:6379/0', api_url: 'c:8780'}",
            "executor.api_url: must be a URL starting with http:// or https://",
        ),
        ("hosts: {down_after_s: 0}", "hosts.down_after_s: must be a number > 0 (got 0)"),
    ],
)
def test_a_bad_executor_section_names_its_field(root: Path, section: str, message: str) -> None:
    with (root / "aof.yaml").open("a") as f:
        f.write(section + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(root)
