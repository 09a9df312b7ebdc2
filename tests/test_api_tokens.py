"""The remote API's token store (.aof/api-tokens.json) and what remote runs and hosts
report (runs/<task>/<attempt>/ logs, .aof/run-reports/, .aof/host-beats/), through the
library and `aof host token`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aof import Fleet, layout
from aof.clock import FixedClock, SeededIds
from aof.errors import NotFound, ValidationError
from aof.fleetapi import (
    host_beats,
    host_heartbeat,
    mint_run_token,
    mint_worker_token,
    revoke_token,
    run_log,
    run_on_host,
    run_status,
    token_scope,
)
from aof.runner.launch import run_spec
from aof.store.apitokens import TokenStore, digest

from .conftest import START, Cli


def test_a_minted_run_token_has_its_scope_and_the_file_keeps_only_its_hash(fleet: Fleet) -> None:
    secret = mint_run_token(fleet, "t-abcd12", "t-abcd12.1", "agent:coder-1")
    scope = token_scope(fleet, secret)
    assert scope is not None
    assert (scope["kind"], scope["actor"], scope["task"], scope["run"], scope["host"]) == (
        "run", "agent:coder-1", "t-abcd12", "t-abcd12.1", None,
    )  # fmt: skip
    path = layout.api_tokens(fleet.root)
    text = path.read_text()
    assert secret not in text and digest(secret) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob(".api-tokens.json.*"))  # no temp file left behind
    assert token_scope(fleet.root, secret) == scope  # what the server reads, by root


def test_a_wrong_an_unknown_form_and_an_empty_token_have_no_scope(fleet: Fleet) -> None:
    secret = mint_run_token(fleet, "t-abcd12", "t-abcd12.1", "agent:coder-1")
    assert token_scope(fleet, secret[:-1] + ("a" if secret[-1] != "a" else "b")) is None
    assert token_scope(fleet, "serve-token-0123456789") is None
    assert token_scope(fleet, "") is None and token_scope(fleet, None) is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["coder-1", "coder-2", "rev"]), st.integers(1, 4)),
        min_size=1,
        max_size=6,
    )
)
def test_every_minted_token_verifies_to_its_own_scope_until_revoked(
    tmp_path_factory: pytest.TempPathFactory, mints: list[tuple[str, int]]
) -> None:
    root = tmp_path_factory.mktemp("tokens")
    store = TokenStore(root, clock=FixedClock(START), ids=SeededIds(7))
    minted = []
    for i, (agent, attempt) in enumerate(mints):
        task = f"t-task{i:02d}"
        secret = store.mint("run", f"agent:{agent}", task=task, run=f"{task}.{attempt}")
        minted.append((secret, task, agent))
    assert len({s for s, _, _ in minted}) == len(minted)
    for secret, task, agent in minted:
        scope = store.scope(secret)
        assert scope is not None and scope["task"] == task and scope["actor"] == f"agent:{agent}"
    gone, *kept = minted
    assert store.revoke(task=gone[1]) == 1
    assert store.scope(gone[0]) is None
    assert all(store.scope(secret) is not None for secret, _, _ in kept)


def test_an_expired_token_has_no_scope_and_is_dropped_at_the_next_mint(root: Path) -> None:
    clock = FixedClock(START)
    store = TokenStore(root, clock=clock, ids=SeededIds(3))
    short = store.mint("run", "agent:a", task="t-aaaa11", run="t-aaaa11.1", ttl_s=60)
    assert store.scope(short) is not None
    clock.advance(61)
    assert store.scope(short) is None
    store.mint("run", "agent:b", task="t-bbbb22", run="t-bbbb22.1")
    assert digest(short) not in store.entries()


def test_revoking_takes_only_the_matching_tokens(fleet: Fleet) -> None:
    one = mint_run_token(fleet, "t-abcd12", "t-abcd12.1", "agent:a", host="mac-1")
    two = mint_run_token(fleet, "t-efgh34", "t-efgh34.1", "agent:b")
    assert revoke_token(fleet) == 0  # no criterion: nothing
    assert revoke_token(fleet, run="t-abcd12.2") == 0
    assert revoke_token(fleet, run="t-abcd12.1") == 1
    assert token_scope(fleet, one) is None and token_scope(fleet, two) is not None
    assert revoke_token(fleet, secret=two) == 1 and token_scope(fleet, two) is None


def test_bad_scopes_are_refused(root: Path) -> None:
    store = TokenStore(root)
    with pytest.raises(ValidationError, match="kind 'person'"):
        store.mint("person", "human:alice")
    with pytest.raises(ValidationError, match="needs its task and run"):
        store.mint("run", "agent:a", task="t-abcd12")
    with pytest.raises(ValidationError, match="needs its host"):
        store.mint("worker", "system:worker-x")
    with pytest.raises(ValidationError, match="not KIND:NAME"):
        store.mint("run", "agent a", task="t-abcd12", run="t-abcd12.1")


def test_a_worker_token_is_one_per_host_and_rotating_replaces_it(run: Cli, fleet: Fleet) -> None:
    run("host", "create", "--slug", "mac-1", "--name", "Mac", "--address", "mac-1.local",
        "--platform", "macos", "--capacity-slots", "2")  # fmt: skip
    with pytest.raises(NotFound, match="no such host"):
        mint_worker_token(fleet, "nope")
    shown = run("host", "token", "mac-1")
    secret = shown.stdout.strip()
    assert "shown this once" in shown.stderr and secret.startswith("aofw_")
    scope = token_scope(fleet, secret)
    assert scope is not None and scope["actor"] == "system:worker-mac-1"
    assert scope["host"] == "mac-1"
    refused = run("host", "token", "mac-1", code=6)
    assert "--rotate" in refused.stderr
    rotated = run.json("host", "token", "mac-1", "--rotate")
    assert token_scope(fleet, secret) is None
    assert token_scope(fleet, rotated["token"]) is not None
    assert secret not in layout.api_tokens(fleet.root).read_text()


def test_a_run_of_a_fleet_with_an_api_url_gets_a_run_token_revoked_when_it_settles(
    run: Cli, fleet: Fleet
) -> None:
    text = (fleet.root / "aof.yaml").read_text()
    (fleet.root / "aof.yaml").write_text(text + "executor:\n  api_url: http://coord:8780/\n")
    fleet = Fleet(fleet.root, clock=fleet.clock, ids=SeededIds(5), actor="human:tester")
    task = fleet.create_task("Remote-ready", ready=True)
    claimed = fleet.claim(task.id, "coder-1")
    spec = run_spec(fleet, claimed, coder="demo", holder="coder-1")
    assert spec.env["AOF_API_URL"] == "http://coord:8780"
    scope = token_scope(fleet, spec.env["AOF_API_TOKEN"])
    assert scope is not None
    assert (scope["task"], scope["run"], scope["actor"]) == (task.id, spec.run_id, "agent:coder-1")
    assert spec.env["AOF_API_TOKEN"] not in " ".join(spec.argv)
    fleet.settle_run(task.id, str(claimed.lease["token"]), outcome="exited", reason="done")
    assert token_scope(fleet, spec.env["AOF_API_TOKEN"]) is None


def test_a_fleet_without_an_api_url_puts_no_token_in_a_run(fleet: Fleet) -> None:
    task = fleet.create_task("Local", ready=True)
    spec = run_spec(fleet, fleet.claim(task.id, "coder-1"), coder="demo", holder="coder-1")
    assert "AOF_API_TOKEN" not in spec.env and "AOF_API_URL" not in spec.env
    assert not layout.api_tokens(fleet.root).exists()


def test_log_uploads_append_at_their_offset_and_a_retry_doubles_nothing(fleet: Fleet) -> None:
    assert run_log(fleet, "t-abcd12.1", "events.jsonl", b'{"a":1}\n', 0) == 8
    assert run_log(fleet, "t-abcd12.1", "events.jsonl", b'{"a":1}\n', 0) == 8  # a retry
    assert run_log(fleet, "t-abcd12.1", "events.jsonl", b'1}\n{"b":2}\n', 5) == 16
    path = layout.run_dir(fleet.root, "t-abcd12", 1) / "events.jsonl"
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValidationError, match="past its end"):
        run_log(fleet, "t-abcd12.1", "events.jsonl", b"x", 20)
    with pytest.raises(ValidationError, match=r"log name 'run\.json'"):
        run_log(fleet, "t-abcd12.1", "run.json", b"{}", 0)
    for bad in ("../x.1", "t-abcd12", "t-abcd12.1/../..", "t-ab.1"):
        with pytest.raises(ValidationError, match="not a run id"):
            run_log(fleet, bad, "stdout.log", b"x", 0)


def test_run_status_and_host_beats_are_kept_where_the_coordinator_reads_them(
    fleet: Fleet,
) -> None:
    meter = {"usage": {"tokens_in": 5}}
    report = run_status(
        fleet, "t-abcd12.2", {"state": "running", "pid": 7, "meter": meter}, host="m"
    )
    kept = json.loads(layout.run_report(fleet.root, "t-abcd12.2").read_text())
    assert kept == report and kept["host"] == "m" and kept["state"] == "running"
    meter_file = layout.run_dir(fleet.root, "t-abcd12", 2) / "meter.json"
    assert json.loads(meter_file.read_text()) == meter
    with pytest.raises(ValidationError, match="unknown field 'color'"):
        run_status(fleet, "t-abcd12.2", {"color": "red"})
    host_heartbeat(fleet, "mac-1", {"workers": ["mac-1.0"], "slots": 2, "slots_used": 1})
    beats = host_beats(fleet)
    assert beats["mac-1"]["slots_used"] == 1 and beats["mac-1"]["at"]
    with pytest.raises(ValidationError, match="not a host slug"):
        host_heartbeat(fleet, "../etc", {})
    assert not run_on_host(fleet, "t-abcd12.2", "mac-1")
    mint_run_token(fleet, "t-abcd12", "t-abcd12.2", "agent:a", host="mac-1")
    assert run_on_host(fleet, "t-abcd12.2", "mac-1")
    assert not run_on_host(fleet, "t-abcd12.2", "mac-2")
    assert os.stat(layout.host_beats(fleet.root)).st_mode & 0o077 == 0
