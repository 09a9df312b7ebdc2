"""The `aof` CLI surface: JSON shapes, exit codes, agent env vars, completion, lean imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aof.errors import EXIT_CODES

from .conftest import Cli, git_clean, sub_env

TASK_KEYS = {
    "id",
    "title",
    "state",
    "priority",
    "team",
    "project",
    "labels",
    "depends_on",
    "parent",
    "created",
    "updated",
    "created_by",
    "attempts",
    "max_attempts",
    "lease",
    "last_error",
    "blocked",
    "path",
    "rev",
    "meta",
}
ROW_KEYS = {
    "id",
    "title",
    "state",
    "priority",
    "team",
    "project",
    "labels",
    "depends_on",
    "parent",
    "holder",
    "fence",
    "expires",
    "acquired",
    "created",
    "updated",
    "entered",
    "due",
    "attempts",
    "max_attempts",
    "rejections",
    "retry_after",
    "routing",
    "sla",
    "sla_notified",
    "coder",
    "branch",
    "batch",
    "gate",
    "issue",
    "path",
}


def test_json_shapes_are_stable(run: Cli) -> None:
    created = run.json("task", "create", "A", "--priority", "high", "--label", "x", "--ready")
    assert set(created) == TASK_KEYS
    assert created["state"] == "ready" and created["path"].startswith("tasks/ready/t-")
    rows = run.json("task", "list")
    assert isinstance(rows, list) and set(rows[0]) == ROW_KEYS
    shown = run.json("task", "show", created["id"])
    assert set(shown) == TASK_KEYS | {"body"}
    claim = run.json("task", "claim", created["id"], "--agent", "a1")
    assert set(claim) == TASK_KEYS | {"token"} and claim["token"] == claim["lease"]["token"]
    board = run.json("board")
    assert set(board) == {"counts", "columns"} and board["counts"]["in-progress"] == 1


def test_agent_flow_with_env_vars_only(run: Cli) -> None:
    tid = run.json("task", "create", "B", "--ready")["id"]
    token = run.json("task", "claim", tid, "--agent", "bot")["token"]
    env = {"AOF_TASK_ID": tid, "AOF_LEASE_TOKEN": token, "AOF_ACTOR": "agent:bot"}
    run("task", "heartbeat", env=env)
    run("task", "progress", "--note", "half done", env=env)
    done = json.loads(run("task", "complete", "--summary", "all done", "--json", env=env).stdout)
    assert done["state"] == "done"
    assert git_clean(run.root)


def test_agents_without_a_token_are_refused(run: Cli) -> None:
    tid = run.json("task", "create", "C", "--ready")["id"]
    run("task", "claim", tid, "--agent", "bot")
    r = run("--actor", "agent:bot", "task", "complete", tid, "--summary", "x", code=8)
    assert "must pass its lease token" in r.stderr


def test_exit_codes_of_each_error_kind(run: Cli) -> None:
    tid = run.json("task", "create", "D")["id"]
    assert run("task", "show", "t-zzzzzz", code=3)
    assert run("task", "claim", tid, "--agent", "a", code=4)  # backlog, not ready
    run("task", "ready", tid)
    token = run.json("task", "claim", tid, "--agent", "a")["token"]
    assert run("task", "claim", tid, "--agent", "b", code=5)
    assert run("task", "complete", tid, "--token", "9-bad", "--summary", "x", code=8)
    assert run("task", "edit", tid, "--set", "priority=urgent", "--token", token, code=6)
    assert run("task", "edit", tid, "--title", "y", "--expect-rev", "000000000000", code=9)
    assert run("task", "nope", code=2)


def test_errors_are_one_line_on_stderr(run: Cli) -> None:
    r = run("task", "show", "t-zzzzzz", code=3)
    assert r.stdout == "" and r.stderr == "Error: no task with id 't-zzzzzz'\n"


def test_every_exit_code_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "exit-codes.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in doc, code
    from aof import errors

    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.AofError):
            assert cls.exit_code in EXIT_CODES and cls.__doc__


def test_text_filter_and_label_filters(run: Cli) -> None:
    a = run.json("task", "create", "Alpha", "--label", "api", "--label", "auth", "--ready")["id"]
    run.json("task", "create", "Beta", "--label", "api", "--body", "mentions OAuth flows")
    assert [r["id"] for r in run.json("task", "list", "--label", "api", "--label", "auth")] == [a]
    assert [r["title"] for r in run.json("task", "list", "--text", "oauth")] == ["Beta"]
    assert [r["id"] for r in run.json("task", "list", "--state", "ready")] == [a]


def test_list_hides_done_unless_all(run: Cli) -> None:
    tid = run.json("task", "create", "E", "--ready")["id"]
    tok = run.json("task", "claim", tid, "--agent", "a")["token"]
    run("task", "complete", tid, "--token", tok, "--summary", "ok")
    assert run.json("task", "list") == []
    assert [r["id"] for r in run.json("task", "list", "--all")] == [tid]


def test_completion_of_task_ids_reads_file_names_only(run: Cli, aof_bin: str) -> None:
    tid = run.json("task", "create", "F")["id"]
    out = subprocess.run(
        [aof_bin, "task", "show", tid[:3]],
        env=sub_env(
            _AOF_COMPLETE="bash_complete",
            COMP_WORDS=f"aof task show {tid[:4]}",
            COMP_CWORD="3",
            AOF_ROOT=str(run.root),
        ),
        capture_output=True,
        text=True,
    )
    assert tid in out.stdout


def test_bash_completion_script_is_generated(aof_bin: str) -> None:
    out = subprocess.run(
        [aof_bin], env=sub_env(_AOF_COMPLETE="bash_source"), capture_output=True, text=True
    )
    assert "_aof_completion" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["task", "list"],
        ["task", "show", "PLACEHOLDER"],
        ["board"],
        ["task", "create", "x"],
        ["audit", "list"],
        ["--help"],
        ["mcp", "serve", "--help"],
        ["knowledge", "search", "--text", "x"],
        ["knowledge", "document", "list"],
    ],
)
def test_cli_does_not_import_heavy_modules(run: Cli, args: list[str]) -> None:
    tid = run.json("task", "create", "G")["id"]
    args = [tid if a == "PLACEHOLDER" else a for a in args]
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['aof', '--root', {str(run.root)!r}, *{args!r}]\n"
        "try:\n    runpy.run_module('aof', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "bad = [m for m in ('mcp', 'watchdog', 'git', 'pygit2', 'dulwich', 'rich', 'jsonschema',"
        " 'filelock', 'numpy', 'githubkit') if m in sys.modules]\n"
        "sys.stderr.write(repr(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=sub_env()
    )
    assert out.stderr.strip().endswith("[]"), out.stderr


def test_help_has_an_example_for_every_command() -> None:
    from aof.cli import cli

    def walk(cmd: object, path: list[str]) -> list[tuple[list[str], object]]:
        import click

        out = [(path, cmd)]
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                out.extend(walk(cmd.get_command(ctx, name), [*path, name]))
        return out

    for path, cmd in walk(cli, ["aof"]):
        assert "Example:" in (cmd.help or ""), " ".join(path)  # type: ignore[attr-defined]


def test_version(run: Cli) -> None:
    assert "aof, version" in run("--version").stdout


def test_module_entry_point(aof_bin: str, root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aof", "--root", str(root), "task", "list"],
        capture_output=True,
        text=True,
        env=sub_env(),
    )
    assert out.returncode == 0 and out.stdout.strip() == "no tasks"
    assert os.access(aof_bin, os.X_OK)
