"""Fleet files checked outside aof: schemas in the root for editors (by relative path), the
git pre-commit hook `aof init` installs, `aof lint PATH...`, and the pre-commit framework's
hook of this repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from aof import Fleet
from aof.journal.githook import FLEET_FILES
from aof.model.resources import schemas_dir
from aof.ops import rootschemas

from .conftest import Cli, git, git_clean

ID = ["-c", "user.name=Pat", "-c", "user.email=pat@example.com"]
REPO = Path(__file__).resolve().parent.parent


def commit(root: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    git(root, "add", *paths)
    return subprocess.run(
        ["git", *ID, "commit", "-qm", "by hand"], cwd=root, capture_output=True, text=True
    )


def test_the_root_carries_the_schemas_that_aof_yaml_and_vscode_name(root: Path) -> None:
    first = (root / "aof.yaml").read_text().splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m and m[1] == "schemas/config.schema.json"  # relative to aof.yaml, no URL
    assert (root / m[1]).read_text() == (schemas_dir() / "config.schema.json").read_text()
    settings = json.loads((root / ".vscode" / "settings.json").read_text())
    mapped = settings["yaml.schemas"]
    assert mapped["./schemas/workflow.schema.json"] == ["workflows/*.yaml", "workflows/*.yml"]
    assert all((root / path).is_file() for path in mapped)
    names = sorted(p.name for p in schemas_dir().glob("*.schema.json"))
    assert sorted(p.name for p in (root / "schemas").iterdir()) == names
    assert "schemas/task.schema.json" in git(root, "ls-files") and git_clean(root)
    assert not any("aof.dev" in (schemas_dir() / n).read_text() for n in names)


def test_the_hook_refuses_a_bad_staged_task_file_and_accepts_a_good_one(
    fleet: Fleet, root: Path
) -> None:
    task = fleet.create_task("Write the docs")
    other = fleet.create_task("Not staged")
    rel = fleet.tasks.rel(task.path)
    head = git(root, "rev-parse", "HEAD")
    text = task.path.read_text()
    task.path.write_text(text.replace("priority: normal", "priority: urgent"))
    other.path.write_text(other.path.read_text().replace("priority: normal", "priority: 9"))

    refused = commit(root, rel)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == (
        f"{rel}:5: priority: must be one of critical, high, normal, low (got 'urgent')"
    )
    assert lines[-1].startswith("aof pre-commit hook: commit refused")
    assert not any("Not staged" in ln or "not-staged" in ln for ln in lines)  # unstaged: skipped
    assert git(root, "rev-parse", "HEAD") == head

    task.path.write_text(text.replace("priority: normal", "priority: high"))
    accepted = commit(root, rel)
    assert (accepted.returncode, accepted.stdout, accepted.stderr) == (0, "", "")
    assert git(root, "rev-parse", "HEAD") != head
    assert "priority: high" in git(root, "show", f"HEAD:{rel}")
    (root / "notes.txt").write_text("not a fleet file\n")
    assert commit(root, "notes.txt").returncode == 0  # the bad unstaged task still is not checked


def test_no_hooks_installs_none_and_existing_hooks_are_left_alone(tmp_path: Path) -> None:
    out = Cli(tmp_path)("init", str(tmp_path / "plain"), "--no-hooks", "--json").stdout
    assert json.loads(out)["hook"] is None
    root = tmp_path / "plain"
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    path = Fleet(root).create_task("x").path
    path.write_text(path.read_text().replace("priority: normal", "priority: urgent"))
    assert commit(root, str(path.relative_to(root))).returncode == 0  # no hook: committed

    mine = tmp_path / "mine"
    (mine / ".git" / "hooks").mkdir(parents=True)
    git(mine, "init", "-q")
    (mine / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    result = Cli(tmp_path)("init", str(mine))
    assert "git pre-commit hook: not installed (the repository has one" in result.stdout
    assert (mine / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"

    shared = tmp_path / "shared-hooks"  # hooks of every repository: not aof's to change
    git(tmp_path, "config", "--global", "core.hooksPath", str(shared))
    assert Cli(tmp_path).json("init", str(tmp_path / "third"))["hook"] is None
    assert not shared.exists()


def test_lint_checks_only_the_fleet_files_it_is_given(
    fleet: Fleet, root: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = fleet.create_task("Dependency")
    good = fleet.create_task("Good", depends_on=[dep.id])
    bad = fleet.create_task("Bad")
    bad.path.write_text(bad.path.read_text().replace("priority: normal", "priority: urgent"))
    (root / "workflows" / "review.yaml").write_text("gates:\n  - name: 5\n")
    monkeypatch.chdir(root)
    g, b = fleet.tasks.rel(good.path), fleet.tasks.rel(bad.path)
    assert run("lint", g, "README.md", "no/such.md").stdout == "ok: every file is valid\n"
    found = run("lint", g, b, "workflows/review.yaml", "--json", code=1).stdout
    findings = json.loads(found)["findings"]
    assert [f.split(":")[0] for f in findings] == [b, "workflows/review.yaml"]
    assert len(json.loads(run("lint", "--json", code=1).stdout)["findings"]) == 2  # all files
    err = run("lint", "/etc/passwd", code=6).stderr
    assert err == f"Error: /etc/passwd: not in the fleet root {root}\n"


def test_doctor_refreshes_schemas_that_are_not_this_aofs(fleet: Fleet, root: Path) -> None:
    (root / "schemas" / "task.schema.json").write_text("{}\n")
    (root / "schemas" / "team.schema.json").unlink()
    report = fleet.doctor().to_json()
    assert report["ok"] is True  # a warning
    (problem,) = report["problems"]
    assert problem["warning"] and problem["kind"] == "schemas"
    assert problem["path"] == "schemas/task.schema.json, schemas/team.schema.json"
    fixed = fleet.doctor(fix=True).problems
    assert [p.fixed for p in fixed] == [True]
    assert rootschemas.stale(root) == [] and git_clean(root)
    assert "schemas for editors" in git(root, "log", "-1", "--format=%s")


def test_the_pre_commit_framework_hook_runs_aof_lint_on_fleet_files() -> None:
    (hook,) = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == ("aof-lint", "aof lint", "python")
    assert hook["files"] == FLEET_FILES.pattern
    fleet_files = [
        "aof.yaml",
        "tasks/ready/t-3kf9a2-design.md",
        "teams/platform.md",
        "knowledge/documents/rollback.md",
        "workflows/review.yaml",
    ]
    others = ["README.md", "schemas/task.schema.json", "audit/2026/11/21.jsonl", "x/aof.yaml"]
    assert all(re.search(hook["files"], p) for p in fleet_files)
    assert not any(re.search(hook["files"], p) for p in others)
