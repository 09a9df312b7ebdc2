"""Reconcile: desired (schedules, overrides, measured backlog) against observed (a fake `ao`
CLI standing in for AO daemons, and the aof daemon), ao-fleet's action table, audited."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from aof import Fleet
from aof.journal.audit import tail
from aof.ops.reconcile import ACTION, AoCli, apply, evaluate, health

from .conftest import Cli, git_clean

FAKE_AO = """#!{python}
import json, os, sys
args = sys.argv[1:]
root = args[args.index("--project-root") + 1]
state_file = os.path.join(root, ".ao", "state")
with open(os.path.join(root, ".ao", "calls.log"), "a") as f:
    f.write(" ".join(args[:2]) + "\\n")
if os.path.exists(os.path.join(root, ".ao", "broken")):
    sys.stderr.write("ao: daemon socket refused\\n")
    sys.exit(1)
verb = args[1]
if verb == "status":
    state = open(state_file).read().strip() if os.path.exists(state_file) else "crashed"
    print(json.dumps({{"status": state, "project_root": root}}))
else:
    new = {{"start": "running", "resume": "running", "pause": "paused", "stop": "stopped"}}[verb]
    open(state_file, "w").write(new)
    print(json.dumps({{"ok": True, "status": new}}))
"""


@pytest.fixture
def ao_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ao"
    script.write_text(FAKE_AO.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def ao_project(tmp_path: Path, name: str, state: str | None) -> Path:
    root = tmp_path / "repos" / name
    (root / ".ao").mkdir(parents=True)
    if state is not None:
        (root / ".ao" / "state").write_text(state)
    return root


def calls(project_root: Path) -> list[str]:
    log = project_root / ".ao" / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def fleet_with_projects(fleet: Fleet, tmp_path: Path) -> dict[str, Path]:
    reg = fleet.registry
    for slug in ("web", "ops"):
        reg.create("team", slug, {"name": slug.title(), "mission": "m", "ownership": "company"})
    reg.create("schedule", "web-always", {"team": "web", "timezone": "UTC", "policy": "always_on"})
    reg.create(
        "schedule", "ops-manual", {"team": "ops", "timezone": "UTC", "policy": "manual_only"}
    )
    roots = {
        "site": ao_project(tmp_path, "site", "stopped"),  # web: running vs stopped -> start
        "api": ao_project(tmp_path, "api", "paused"),  # web: running vs paused -> resume
        "infra": ao_project(tmp_path, "infra", "running"),  # ops: stopped vs running -> stop
        "tools": ao_project(tmp_path, "tools", None),  # ops: stopped vs missing -> stop
    }
    teams = {"site": "web", "api": "web", "infra": "ops", "tools": "ops"}
    for slug, root in roots.items():
        reg.create("project", slug, {"team": teams[slug], "root_path": str(root)})
    reg.create("project", "native", {"team": "web", "root_path": str(tmp_path / "native")})
    return roots


def test_the_action_table_is_ao_fleets() -> None:
    assert ACTION[("running", "paused")] == "resume"
    assert ACTION[("running", "missing")] == "start"
    assert ACTION[("paused", "running")] == "pause"
    assert ACTION[("paused", "stopped")] == "none"
    assert ACTION[("stopped", "paused")] == "stop"
    assert len(ACTION) == 12


def test_evaluate_compares_desired_with_observed(
    fleet: Fleet, fleet_with_projects: dict[str, Path], ao_bin: Path
) -> None:
    rows = {r.project: r for r in evaluate(fleet, ao=AoCli(str(ao_bin)), daemon_alive=False)}
    assert {p: (r.desired, r.observed, r.action) for p, r in rows.items()} == {
        "site": ("running", "stopped", "start"),
        "api": ("running", "paused", "resume"),
        "infra": ("stopped", "running", "stop"),
        "tools": ("stopped", "missing", "stop"),
        "native": ("running", "stopped", "none"),
    }
    assert rows["native"].runner == "aof"
    assert "aof daemon is not running" in rows["native"].observed_detail
    assert rows["tools"].observed_detail == "ao daemon status: crashed"
    assert rows["infra"].desired_reason.startswith("schedule ops-manual is manual_only")
    h = health(list(rows.values()))
    assert h == {
        "total": 5,
        "desired_running": 3,
        "observed_running": 1,
        "aligned": 0,
        "degraded": 5,
        "unobserved": 0,
    }


def test_apply_acts_through_ao_and_audits_each_action(
    fleet: Fleet, fleet_with_projects: dict[str, Path], ao_bin: Path
) -> None:
    ao = AoCli(str(ao_bin))
    done = apply(fleet, evaluate(fleet, ao=ao, daemon_alive=True), ao=ao)
    assert {r.project: r.applied for r in done} == {
        "site": True,
        "api": True,
        "infra": True,
        "tools": True,
        "native": None,
    }
    assert calls(fleet_with_projects["site"])[-1] == "daemon start"
    assert calls(fleet_with_projects["api"])[-1] == "daemon resume"
    records = tail(fleet.audit, 4)
    assert sorted((r["action"], r["entity"]["id"]) for r in records) == [
        ("daemon_resume", "api"),
        ("daemon_start", "site"),
        ("daemon_stop", "infra"),
        ("daemon_stop", "tools"),
    ]
    assert git_clean(fleet.root)
    # Applied: everything is aligned now, and a second pass does nothing.
    again = evaluate(fleet, ao=ao, daemon_alive=True)
    assert all(r.action == "none" for r in again)
    assert health(again)["aligned"] == 5


def test_a_failing_ao_is_reported_and_audited_as_failed(
    fleet: Fleet, fleet_with_projects: dict[str, Path], ao_bin: Path
) -> None:
    (fleet_with_projects["site"] / ".ao" / "broken").write_text("")
    ao = AoCli(str(ao_bin), tries=2)
    rows = [r for r in evaluate(fleet, ao=ao, daemon_alive=True) if r.project == "site"]
    assert rows[0].observed == "missing" and "daemon socket refused" in rows[0].observed_detail
    (done,) = apply(fleet, rows, ao=ao)
    assert done.applied is False and "daemon socket refused" in str(done.result)
    record = tail(fleet.audit, 1)[0]
    assert record["action"] == "daemon_start" and record["reason"].startswith("failed:")


def test_a_missing_ao_cli_leaves_projects_unobserved(
    fleet: Fleet, fleet_with_projects: dict[str, Path], tmp_path: Path
) -> None:
    ao = AoCli(str(tmp_path / "no-such-ao"))
    rows = [r for r in evaluate(fleet, ao=ao, daemon_alive=True) if r.runner == "ao"]
    assert {r.observed for r in rows} == {"unavailable"}
    assert health(rows)["unobserved"] == 4


def test_desired_state_follows_the_time_and_the_backlog(
    fleet: Fleet, fleet_with_projects: dict[str, Path], ao_bin: Path
) -> None:
    from aof.clock import parse_time

    reg = fleet.registry
    reg.create(
        "schedule", "ops-burst", {"team": "ops", "timezone": "UTC", "policy": "burst_on_backlog"}
    )
    ao = AoCli(str(ao_bin))
    at = parse_time("2026-11-23T10:00:00Z")
    infra = next(
        r for r in evaluate(fleet, at=at, ao=ao, daemon_alive=True) if r.project == "infra"
    )
    assert (infra.desired, infra.action) == ("paused", "pause")  # no backlog: paused
    fleet.create_task("Rotate the certificates", team="ops", project="infra", ready=True)
    infra = next(
        r for r in evaluate(fleet, at=at, ao=ao, daemon_alive=True) if r.project == "infra"
    )
    assert (infra.desired, infra.action) == ("running", "none")  # measured backlog: running


def test_cli_reconcile_preview_apply_and_health(
    run: Cli, fleet: Fleet, fleet_with_projects: dict[str, Path], ao_bin: Path
) -> None:
    env = {"PATH": f"{ao_bin.parent}{os.pathsep}{os.environ['PATH']}"}
    preview = run.json("reconcile", "--team", "web", "--at", "2026-11-23T10:00:00Z", env=env)
    assert preview["applied"] is False and preview["at"] == "2026-11-23T10:00:00Z"
    assert {r["project"]: r["action"] for r in preview["rows"]} == {
        "site": "start",
        "api": "resume",
        "native": "none",
    }
    assert calls(fleet_with_projects["site"]) == ["daemon status"]  # a preview only looks
    health_out = run("daemon", "health", "--json", env=env, code=1)  # degraded: exit 1
    assert json.loads(health_out.stdout)["degraded"] == 5
    applied = run.json("reconcile", "--apply", env=env)
    assert {r["project"]: r["applied"] for r in applied["rows"]}["infra"] is True
    status = run.json("daemon", "status", "--project", "site", env=env)
    assert status["daemon"]["running"] is False
    assert [(r["project"], r["observed"]) for r in status["projects"]] == [("site", "running")]
    run("reconcile", "--team", "nope", code=3)
    run("daemon", "status", "--project", "nope", code=3)


def test_project_ao_passes_commands_through(
    run: Cli, tmp_path: Path, ao_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = ao_project(tmp_path, "svc", "paused")
    run("team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    run("project", "create", "--team", "core", "--slug", "svc", "--root-path", str(repo))
    plain = tmp_path / "plain"
    plain.mkdir()
    run("project", "create", "--team", "core", "--slug", "plain", "--root-path", str(plain))
    monkeypatch.setenv("PATH", f"{ao_bin.parent}{os.pathsep}{os.environ['PATH']}")
    out = run("project", "ao", "svc", "daemon", "status", "--json")
    assert json.loads(out.stdout) == {"status": "paused", "project_root": str(repo)}
    assert calls(repo) == ["daemon status"]
    (repo / ".ao" / "broken").write_text("")
    failed = run("project", "ao", "svc", "daemon", "status", code=1)
    assert "socket refused" in failed.stderr
    refused = run("project", "ao", "plain", "daemon", "status", code=None)
    assert refused.exit_code != 0 and "not an AO project" in refused.stderr
