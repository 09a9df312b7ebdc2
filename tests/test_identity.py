"""One person, one name: the CLI, MCP over stdio and the daemon's record of hand edits all name
the person at the machine `AOF_ACTOR`, else git's user.name, else the login name."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from aof import Fleet, SystemClock
from aof.journal.audit import AuditLog
from aof.ops.edits import sweep

from .conftest import Cli, git, sub_env


def test_the_person_is_aof_actor_else_git_user_name_else_the_login(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aof.journal.identity import human

    monkeypatch.setenv("LOGNAME", "Linus T.")
    assert str(human(root, {})) == "human:linus-t"
    git(root, "config", "user.name", "Ada Lovelace")
    assert str(human(root, {})) == "human:ada-lovelace"
    assert str(human(root, {"AOF_ACTOR": "human:grace"})) == "human:grace"
    assert str(human(root, {"AOF_ACTOR": "grace"})) == "human:grace"
    assert str(human(root, {"AOF_ACTOR": "agent:coder-1"})) == "human:ada-lovelace"


def test_git_user_name_is_kept_until_a_config_file_changes(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is read from git once and kept with its config files' identity: no git
    process while they are unchanged; a change to any of them is seen at once; a config
    that includes another file is never kept."""
    from aof.journal.identity import git_user_name

    kept = root / ".aof" / "cache" / "git-user.json"
    git(root, "config", "user.name", "Ada Lovelace")
    assert git_user_name(root) == "Ada Lovelace" and kept.exists()
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))  # git cannot be started now
    assert git_user_name(root) == "Ada Lovelace"  # from the cache
    monkeypatch.setenv("PATH", path)
    git(root, "config", "user.name", "Grace Hopper")
    assert git_user_name(root) == "Grace Hopper"
    glob = tmp_path / "global.gitconfig"
    glob.write_text("[user]\n\tname = Global Name\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(glob))  # another file: another key
    git(root, "config", "--unset", "user.name")
    assert git_user_name(root) == "Global Name"
    extra = tmp_path / "extra.gitconfig"
    extra.write_text("[user]\n\tname = Included Name\n")
    glob.write_text(f"[include]\n\tpath = {extra}\n")
    kept.unlink()
    assert git_user_name(root) == "Included Name"
    assert not kept.exists()  # an include is never kept: the included file could change
    extra.write_text("[user]\n\tname = Changed Include\n")
    assert git_user_name(root) == "Changed Include"


def test_the_cli_hand_edits_and_mcp_name_the_same_person(tmp_path: Path) -> None:
    """A root on the real clock: the CLI, the sweep and the MCP server all run on it."""
    root = Fleet.init(tmp_path / "live", actor="human:tester").root
    run = Cli(root)
    git(root, "config", "user.name", "Ada Lovelace")
    person = {"kind": "human", "id": "ada-lovelace"}
    created = run.json("task", "create", "By the CLI")
    assert created["created_by"] == "human:ada-lovelace"
    path = root / created["path"]
    path.write_text(path.read_text().replace("By the CLI", "Edited by hand"))
    past = path.stat().st_mtime - 10  # settled: the sweep leaves files younger than 2 s
    os.utime(path, (past, past))
    daemon = Fleet(root, actor="scheduler:daemon")
    assert sweep(daemon, {}).committed == [created["path"]]
    (edited,) = [r for r in AuditLog(root, SystemClock()).records() if r["action"] == "edited"]
    assert edited["actor"] == person and edited["entity"]["id"] == created["id"]

    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "aof", "--root", str(root), "mcp", "serve"],
        env=sub_env(),  # no AOF_ACTOR: the server's caller is the person
    )

    async def create() -> Any:
        async with Client(server) as c:
            made = await c.call_tool("aof_create", {"title": "By MCP"})
            assert not made.is_error, made
            return made.structured_content

    made = asyncio.run(create())
    assert run.json("task", "show", made["id"])["created_by"] == "human:ada-lovelace"
