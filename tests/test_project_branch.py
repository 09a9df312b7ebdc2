"""A project's default branch is the one its repository has checked out, unless given."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, git


@pytest.mark.parametrize("branch", ["master", "trunk", "release/2026"])
def test_project_create_takes_the_repositorys_branch(run: Cli, tmp_path: Path, branch: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", branch)
    run("team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    run("project", "create", "--team", "core", "--slug", "app", "--root-path", str(repo))
    assert run.json("project", "get", "app")["default_branch"] == branch
    run("project", "create", "--team", "core", "--slug", "other", "--root-path", str(repo),
        "--default-branch", "develop")  # fmt: skip
    assert run.json("project", "get", "other")["default_branch"] == "develop"
    run("project", "create", "--team", "core", "--slug", "nogit", "--root-path",
        str(tmp_path / "nowhere"))  # fmt: skip
    assert run.json("project", "get", "nogit")["default_branch"] == "main"
