"""Shared fixtures: every test gets its own fleet root under tmp_path, a fixed clock and
seeded ids, and a git that sees no global or system config (as on a fresh CI machine)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from aof import FixedClock, Fleet, SeededIds
from aof.cli import cli

START = "2026-11-21T09:00:00Z"

# CI replays the same examples every run (a merge never fails on a seed nobody has seen);
# developers' runs keep exploring new ones, and a failure they find is kept by hypothesis.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user git identity, no AOF_* leaking in from the developer's shell."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in (
        "AOF_ROOT",
        "AOF_ACTOR",
        "AOF_TASK_ID",
        "AOF_LEASE_TOKEN",
        "AOF_API_URL",
        "AOF_API_TOKEN",
        "AOF_SERVER",  # a call goes to a command server only where a test asks for one
        "AOF_SERVER_DIR",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def root(tmp_path: Path, clock: FixedClock) -> Path:
    fleet = Fleet.init(tmp_path / "fleet", clock=clock, ids=SeededIds(1), actor="human:tester")
    return fleet.root


@pytest.fixture
def fleet(root: Path, clock: FixedClock) -> Fleet:
    return Fleet(root, clock=clock, ids=SeededIds(2), actor="human:tester")


class Cli:
    """Run `aof` in-process against one root; assert on exit code, stdout and stderr."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0, env: dict[str, str] | None = None) -> Any:
        result = self.runner.invoke(
            cli, ["--root", str(self.root), *args], env=env, catch_exceptions=False
        )
        if code is not None:
            assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self(*args, "--json", **kw).stdout)


@pytest.fixture
def run(root: Path) -> Cli:
    return Cli(root)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def git_clean(root: Path) -> bool:
    return git(root, "status", "--porcelain") == ""


@pytest.fixture
def aof_bin() -> Iterator[str]:
    """The installed console script, for tests that need real processes."""
    import shutil
    import sys

    path = shutil.which("aof", path=str(Path(sys.executable).parent)) or shutil.which("aof")
    assert path, "aof is not installed in this environment"
    yield path


def sub_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def set_default_coder(root: Path, coder: str = "demo") -> None:
    """Set ``defaults.coder`` (a new fleet has none; the built-in demo coder by default) and
    commit aof.yaml: for tests whose daemon or agents run tasks that name no coder."""
    path = root / "aof.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\ndefaults:\n" in text
    path.write_text(text.replace("\ndefaults:\n", f"\ndefaults:\n  coder: {coder}\n", 1))
    git(
        root,
        *("-c", "user.name=t", "-c", "user.email=t@t"),
        "commit",
        "--no-verify",
        "-qm",
        "coder",
        "aof.yaml",
    )
