"""``aof completion SHELL`` prints a script that a real shell uses to complete commands and ids."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aof import Fleet

from .conftest import Cli


def _complete(aof_bin: str, root: Path, words: list[str]) -> list[str]:
    """What bash offers for ``words`` (the last one being completed), through the script."""
    script = subprocess.run(
        [aof_bin, "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    line = " ".join(words)
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        '_aof_completion aof\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {
        **os.environ,
        "PATH": f"{Path(aof_bin).parent}:{os.environ['PATH']}",
        "AOF_ROOT": str(root),
    }
    out = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_and_task_ids(aof_bin: str, root: Path, fleet: Fleet) -> None:
    assert "task" in _complete(aof_bin, root, ["aof", "ta"])
    assert set(_complete(aof_bin, root, ["aof", "task", "cl"])) == {"claim"}
    tid = fleet.create_task("Fix the login bug", ready=True).id
    assert tid in _complete(aof_bin, root, ["aof", "task", "show", "t-"])


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_its_script(run: Cli, shell: str) -> None:
    out = run("completion", shell).stdout
    assert "_AOF_COMPLETE" in out and f"{shell}_" in out


def test_an_unknown_shell_is_a_usage_error(run: Cli) -> None:
    err = run("completion", "tcsh", code=2).stderr
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in err
