"""`aof project discover`: nested repos, gitfiles, skipped folders, unreadable folders, register."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aof import Fleet

from .conftest import Cli, git_clean


def repo(path: Path, remote: str | None = None, branch: str = "main") -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    repo(src / "api", "https://bob:s3cret@github.com/acme/api.git")
    repo(src / "api" / "vendor-free" / "inner", "git@github.com:acme/inner.git", "trunk")
    repo(src / "group" / "web")
    (src / "group" / "web" / "node_modules" / "dep").mkdir(parents=True)
    repo(src / "group" / "web" / "node_modules" / "dep" / "x")  # skipped: vendored
    (src / "shell" / ".ao").mkdir(parents=True)  # .ao only
    wt = src / "worktree"
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {src / 'api' / '.git'}\n")  # a gitfile
    (src / "deep" / "a" / "b" / "c").mkdir(parents=True)
    repo(src / "deep" / "a" / "b" / "c" / "far")
    return src


def test_finds_nested_repos_and_gitfiles_and_skips_vendored(fleet: Fleet, tree: Path) -> None:
    got = fleet.registry.discover([tree])
    paths = {Path(i["path"]).relative_to(tree).as_posix(): i for i in got["found"]}
    assert set(paths) == {"api", "api/vendor-free/inner", "group/web", "worktree", "deep/a/b/c/far"}
    assert paths["api"]["remote_url"] == "https://github.com/acme/api.git"  # credentials gone
    assert paths["api/vendor-free/inner"]["remote_url"] == "git@github.com:acme/inner.git"
    assert paths["api/vendor-free/inner"]["default_branch"] == "trunk"
    assert got["dry_run"] and got["registered"] == [] and fleet.registry.rows("project") == []
    shells = fleet.registry.discover([tree], include_ao_shells=True)
    assert any(i["kind"] == "ao" for i in shells["found"])
    shallow = fleet.registry.discover([tree], max_depth=2)
    assert "deep/a/b/c/far" not in {
        Path(i["path"]).relative_to(tree).as_posix() for i in shallow["found"]
    }


def test_unreadable_folder_is_reported_and_skipped(
    fleet: Fleet, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.scandir
    locked = str((tree / "group").resolve())

    def scandir(path: object) -> object:
        if str(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr("aof.registry.discover.os.scandir", scandir)
    got = fleet.registry.discover([tree])
    assert any("group: cannot read (Permission denied); skipped" in p for p in got["problems"])
    assert any(i["path"].endswith("/api") for i in got["found"])  # the walk went on


def test_register_adds_only_new_projects_with_unique_slugs(
    run: Cli, root: Path, tree: Path
) -> None:
    run("team", "create", "--slug", "eng", "--name", "E", "--mission", "m", "--ownership", "o")
    run("project", "create", "--team", "eng", "--slug", "web", "--root-path", str(tree / "api"))
    dry = run.json("project", "discover", "--search-root", str(tree))
    assert dry["dry_run"] and not (root / "projects" / "far.md").exists()
    assert run("project", "discover", "--search-root", str(tree), "--register", code=6)
    out = run.json("project", "discover", "--search-root", str(tree), "--register", "--team", "eng")
    assert sorted(out["registered"]) == ["far", "inner", "web-2", "worktree"]  # api known as web
    assert run.json("project", "get", "web-2")["root_path"] == str(
        (tree / "group" / "web").resolve()
    )
    assert run.json("project", "get", "inner")["default_branch"] == "trunk"
    again = run.json(
        "project", "discover", "--search-root", str(tree), "--register", "--team", "eng"
    )
    assert again["registered"] == [] and again["new"] == []
    assert git_clean(root)
    assert run.json("lint")["ok"]
