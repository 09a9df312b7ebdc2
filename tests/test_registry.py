"""The fleet registry through the CLI: CRUD, integrity, overrides, placements, snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aof import Fleet
from aof.registry import NOUNS

from .conftest import Cli, git, git_clean


def seed(run: Cli, repo: Path) -> None:
    run(
        "team",
        "create",
        "--slug",
        "mkt",
        "--name",
        "Marketing",
        "--mission",
        "Grow",
        "--ownership",
        "company",
        "--business-priority",
        "80",
    )
    run(
        "host",
        "create",
        "--slug",
        "mac",
        "--name",
        "Mac",
        "--address",
        "mac.local",
        "--platform",
        "macos",
        "--capacity-slots",
        "2",
    )
    run("project", "create", "--team", "mkt", "--slug", "site", "--root-path", str(repo))
    run(
        "schedule",
        "create",
        "--team",
        "mkt",
        "--timezone",
        "Europe/Berlin",
        "--policy",
        "business_hours",
        "--window",
        "0,9,17",
        "--window",
        "1,9:30,17:30",
    )
    run(
        "agent",
        "create",
        "--slug",
        "coder-1",
        "--team",
        "mkt",
        "--role",
        "coder",
        "--project",
        "site",
    )


def test_crud_for_every_noun_audited_and_committed(run: Cli, root: Path, tmp_path: Path) -> None:
    seed(run, tmp_path)
    team = run.json("team", "get", "mkt")
    assert team["business_priority"] == 80 and team["path"] == "teams/mkt.md"
    sched = run.json("schedule", "get", "mkt")
    assert sched["windows"] == [
        {"weekday": 0, "start": "09:00", "end": "17:00"},
        {"weekday": 1, "start": "09:30", "end": "17:30"},
    ]
    assert run.json("project", "get", "site")["default_branch"] == "main"
    assert run.json("host", "get", "mac")["status"] == "healthy"
    assert run.json("agent", "get", "coder-1")["projects"] == ["site"]
    for noun in NOUNS:
        rows = run.json(noun, "profiles" if noun == "agent" else "list")
        assert len(rows) >= 1 and all("slug" in r for r in rows), noun
    run("team", "update", "mkt", "--business-priority", "90", "--lead", "alice")
    assert run.json("team", "get", "mkt")["lead"] == "alice"
    run("host", "update", "mac", "--unset", "labels", "--capacity-slots", "4")
    assert run.json("host", "get", "mac")["capacity_slots"] == 4
    actions = [
        (r["entity"]["kind"], r["action"])
        for r in Fleet(root).audit.records()
        if r["entity"]["kind"] != "fleet"
    ]
    assert ("team", "created") in actions and ("team", "updated") in actions
    assert git(root, "log", "-1", "--format=%s").startswith("host mac: updated")
    assert git_clean(root)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            [
                "team",
                "create",
                "--slug",
                "Bad Slug",
                "--name",
                "x",
                "--mission",
                "m",
                "--ownership",
                "o",
            ],
            "lower-case letters",
        ),
        (
            [
                "team",
                "create",
                "--slug",
                "t",
                "--name",
                "x",
                "--mission",
                "m",
                "--ownership",
                "o",
                "--business-priority",
                "101",
            ],
            "business_priority: must be a whole number from 0 to 100",
        ),
        (
            ["project", "create", "--team", "nope", "--slug", "p", "--root-path", "/x"],
            "team: no team 'nope'",
        ),
        (
            [
                "host",
                "create",
                "--slug",
                "h",
                "--name",
                "H",
                "--address",
                "a",
                "--platform",
                "linux",
                "--capacity-slots",
                "-1",
            ],
            "capacity_slots: must be a whole number from 0",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "Mars/Base",
                "--policy",
                "always_on",
            ],
            "timezone: is not a known IANA timezone",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "UTC",
                "--policy",
                "business_hours",
                "--window",
                "0,9,9",
            ],
            "starts and ends at 09:00",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "UTC",
                "--policy",
                "business_hours",
                "--window",
                "0,17,9",
            ],
            "only nightly windows may wrap",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "UTC",
                "--policy",
                "business_hours",
            ],
            "needs at least one window",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "UTC",
                "--policy",
                "nightly",
                "--window",
                "7,22,6",
            ],
            "weekday must be 0 (Monday) to 6",
        ),
        (
            [
                "schedule",
                "create",
                "--team",
                "mkt",
                "--timezone",
                "UTC",
                "--policy",
                "nightly",
                "--window",
                "0,25,6",
            ],
            "time of day",
        ),
        (["agent", "create", "--slug", "a", "--project", "ghost"], "projects: no project 'ghost'"),
        (["agent", "create", "--slug", "a", "--concurrency", "0"], "concurrency"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    run: Cli, root: Path, args: list[str], message: str
) -> None:
    run("team", "create", "--slug", "mkt", "--name", "M", "--mission", "m", "--ownership", "o")
    head = git(root, "rev-parse", "HEAD")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.md"))
    result = run(*args, code=6)
    assert message in result.stderr, result.stderr
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.md")) == before
    assert git(root, "rev-parse", "HEAD") == head


def test_missing_required_flags_are_usage_errors(run: Cli) -> None:
    assert (
        "Missing option '--mission'"
        in run("team", "create", "--slug", "x", "--name", "X", "--ownership", "o", code=2).stderr
    )


def test_duplicate_slug_is_refused(run: Cli) -> None:
    args = ["team", "create", "--slug", "mkt", "--name", "M", "--mission", "m", "--ownership", "o"]
    run(*args)
    assert "already exists" in run(*args, code=6).stderr


def test_delete_refused_with_referrers_then_cascade(run: Cli, root: Path, tmp_path: Path) -> None:
    seed(run, tmp_path)
    out = run("team", "delete", "mkt", code=4).stderr
    for ref in ("project site (team)", "schedule mkt (team)", "agent coder-1 (team)"):
        assert ref in out
    result = run.json("team", "delete", "mkt", "--cascade")
    assert (
        "deleted project site" in result["changes"] and "deleted schedule mkt" in result["changes"]
    )
    assert not (root / "teams" / "mkt.md").exists() and not (root / "projects" / "site.md").exists()
    agent = run.json("agent", "get", "coder-1")
    assert "team" not in agent and "projects" not in agent  # optional references cleared
    assert git_clean(root)
    assert git(root, "log", "-1", "--format=%s").startswith("team mkt: deleted with")


def test_open_tasks_block_deleting_their_team(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    tid = run.json("task", "create", "x", "--team", "mkt", "--ready")["id"]
    err = run("team", "delete", "mkt", "--cascade", code=4).stderr
    assert f"task {tid} (team)" in err and "cancel or move the open tasks first" in err


def test_rename_only_when_unreferenced(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    run("project", "host", "assign", "site", "mac")
    assert "cannot rename" in run("host", "update", "mac", "--slug", "mini", code=4).stderr
    run("project", "host", "clear", "site")
    run("host", "update", "mac", "--slug", "mini")
    assert run.json("host", "get", "mini")["slug"] == "mini"
    run("host", "get", "mac", code=3)


def test_placements(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    run("project", "host", "assign", "site", "mac")
    assert run.json("project", "host", "list") == [{"project": "site", "host": "mac"}]
    assert "no host 'nope'" in run("project", "host", "assign", "site", "nope", code=6).stderr
    run("project", "host", "clear", "site")
    assert run.json("project", "host", "list") == []


def test_hand_edited_registry_file_keeps_comments(run: Cli, root: Path) -> None:
    run("team", "create", "--slug", "mkt", "--name", "M", "--mission", "m", "--ownership", "o")
    path = root / "teams" / "mkt.md"
    text = path.read_text().replace("name: M\n", "name: M   # the display name\ncost_center: 42\n")
    path.write_text(text + "Our team notes.\n")
    run("team", "update", "mkt", "--mission", "Grow fast")
    out = path.read_text()
    assert "name: M   # the display name" in out and "cost_center: 42" in out
    assert "mission: Grow fast" in out and out.endswith("Our team notes.\n")
    assert run.json("team", "get", "mkt")["cost_center"] == 42


def test_hand_edits_are_picked_up_and_bad_ones_reported(run: Cli, root: Path) -> None:
    run("team", "create", "--slug", "mkt", "--name", "M", "--mission", "m", "--ownership", "o")
    (root / "teams" / "ops.md").write_text(
        "---\nschema: aof/team/v1\nslug: ops\nname: Ops\nmission: Keep it up\n"
        "ownership: company\n---\n"
    )
    (root / "teams" / "broken.md").write_text("---\nschema: aof/team/v1\nslug: broken\n---\n")
    result = run("team", "list", "--json")
    assert [r["slug"] for r in json.loads(result.stdout)] == ["mkt", "ops"]
    assert "teams/broken.md:1: name: is required" in result.stderr


def test_overrides_win_and_expire(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    monday_10 = "2026-11-23T09:00:00Z"  # 10:00 in Berlin: inside the Monday window
    assert run.json("schedule", "eval", "--team", "mkt", "--at", monday_10)["state"] == "running"
    run(
        "team",
        "override",
        "set",
        "mkt",
        "--freeze-until",
        "2026-11-23T12:00:00Z",
        "--note",
        "freeze",
    )
    frozen = run.json("schedule", "eval", "--team", "mkt", "--at", monday_10)
    assert (
        frozen["state"] == "paused" and frozen["override_applied"] and "freeze" in frozen["reason"]
    )
    later = run.json("schedule", "eval", "--team", "mkt", "--at", "2026-11-23T13:00:00Z")
    assert later["state"] == "running" and not later["override_applied"]  # expired
    run("team", "override", "set", "mkt", "--state", "stopped")
    assert run.json("schedule", "eval", "--team", "mkt", "--at", monday_10)["state"] == "stopped"
    assert run.json("team", "override", "list")[0]["mode"] == "force"
    run("team", "override", "clear", "mkt")
    assert run.json("team", "override", "list") == []
    run("team", "override", "clear", "mkt", code=3)
    assert run("team", "override", "set", "mkt", code=2)


def test_burst_on_backlog_counts_open_tasks_from_the_task_directories(run: Cli) -> None:
    run("team", "create", "--slug", "ops", "--name", "O", "--mission", "m", "--ownership", "o")
    run("schedule", "create", "--team", "ops", "--timezone", "UTC", "--policy", "burst_on_backlog")
    assert run.json("schedule", "eval", "--team", "ops")["state"] == "paused"
    run("task", "create", "fix it", "--team", "ops", "--ready")
    got = run.json("schedule", "eval", "--team", "ops")
    assert got["state"] == "running" and "1 open task" in got["reason"]


def test_snapshot_round_trip_reproduces_files_exactly(run: Cli, root: Path, tmp_path: Path) -> None:
    seed(run, tmp_path)
    (root / "teams" / "mkt.md").write_text(
        (root / "teams" / "mkt.md").read_text().replace("name: Marketing", "name: Marketing  # hi")
    )
    snap = tmp_path / "snap.json"
    run("snapshot", "export", "--output", str(snap))
    empty = Fleet.init(tmp_path / "empty", actor="human:t").root
    other = Cli(empty)
    written = other.json("snapshot", "import", str(snap))["written"]
    assert len(written) == 5
    for rel in written:
        assert (empty / rel).read_bytes() == (root / rel).read_bytes()
    assert git_clean(empty)
    assert other.json("snapshot", "import", str(snap))["written"] == []  # idempotent


def test_broken_snapshot_changes_nothing(run: Cli, root: Path, tmp_path: Path) -> None:
    seed(run, tmp_path)
    snap = tmp_path / "snap.json"
    run("snapshot", "export", "--output", str(snap))
    data = json.loads(snap.read_text())
    data["files"][-1]["text"] = data["files"][-1]["text"].replace("team: mkt", "team: ghost")
    snap.write_text(json.dumps(data))
    empty = Fleet.init(tmp_path / "empty", actor="human:t").root
    head = git(empty, "rev-parse", "HEAD")
    before = sorted(p.name for p in empty.rglob("*.md"))
    err = Cli(empty)("snapshot", "import", str(snap), code=6).stderr
    assert "no team 'ghost'" in err
    assert sorted(p.name for p in empty.rglob("*.md")) == before  # nothing half-imported
    assert git(empty, "rev-parse", "HEAD") == head
    snap.write_text("{not json")
    assert "not JSON" in Cli(empty)("snapshot", "import", str(snap), code=6).stderr


def test_fleet_overview_counts_work_from_the_task_directories(run: Cli, tmp_path: Path) -> None:
    seed(run, tmp_path)
    run("team", "create", "--slug", "ops", "--name", "O", "--mission", "m", "--ownership", "o")
    run("project", "host", "assign", "site", "mac")
    a = run.json("task", "create", "a", "--team", "mkt", "--project", "site", "--ready")["id"]
    run.json("task", "create", "b", "--team", "mkt", "--ready")
    run("task", "claim", a, "--agent", "coder-1")
    ov = run.json("fleet", "overview", "--at", "2026-11-23T09:00:00Z")
    assert ov["counts"]["teams"] == 2 and ov["counts"]["tasks"]["in-progress"] == 1
    assert [t["slug"] for t in ov["teams"]] == ["mkt", "ops"]  # business priority first
    team = ov["teams"][0]
    assert team["work"]["ready"] == 1 and team["work"]["in-progress"] == 1
    assert team["desired"]["state"] == "running"
    assert ov["hosts"][0] == {
        "slug": "mac",
        "name": "Mac",
        "status": "healthy",
        "capacity_slots": 2,
        "used_slots": 1,
        "free_slots": 1,
    }
    founder = run.json("fleet", "founder")
    assert founder["placements"] == [{"project": "site", "host": "mac"}]
    run("fleet", "overview", "--team", "nope", code=3)


def test_lint_checks_registry_files_and_cross_references(
    run: Cli, root: Path, tmp_path: Path
) -> None:
    seed(run, tmp_path)
    assert run.json("lint") == {"ok": True, "findings": [], "warnings": []}
    proj = root / "projects" / "site.md"
    proj.write_text(proj.read_text().replace("enabled: true", "enabled: true\nhost: ghost-host"))
    sched = root / "schedules" / "mkt.md"
    sched.write_text(sched.read_text().replace("end: '17:00'", "end: '09:00'"))
    (root / "hosts" / "mac.md").rename(root / "hosts" / "mini.md")
    t = run.json("task", "create", "x", "--team", "mkt")
    task_path = root / t["path"]
    task_path.write_text(
        task_path.read_text().replace(
            "team: mkt", "team: ghost-team\nrouting:\n  agent: nobody\n  role: astronaut"
        )
    )
    findings = run.json("lint", code=1)["findings"]
    text = "\n".join(findings)
    assert "projects/site.md:" in text and "host: no host 'ghost-host'" in text
    assert "schedules/mkt.md:" in text and "starts and ends at 09:00" in text
    assert "hosts/mini.md:3: slug: 'mac' does not match the file name 'mini'" in text
    assert f"{t['path']}:1: team: no team 'ghost-team'" in text
    assert "routing.agent: no agent 'nobody'" in text
    assert "routing.role: no agent has the role 'astronaut'" in text


def test_generated_schemas_are_up_to_date() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "scripts/gen_schemas.py", "--check"],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
