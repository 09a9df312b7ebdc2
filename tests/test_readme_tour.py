"""The README's tour, run word by word in a fresh home directory, so it can never drift.

Every line of every ``sh`` block between "A 5-minute tour" and the next top-level section is
typed into one real bash session (so ``cd``, ``export`` and ``&&`` behave as they do for a
person). The only things changed are what a reader changes too: the task ids and lease tokens
the README shows are replaced by the ones this run printed (the first id shown after a task is
created stands for that task; a token stands for the token of the claim it follows). A line
must exit 0, or the code its comment names (``exit 4``). The Python snippet of "Using it from
Python" runs afterwards against the same fleet root.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
TASK_ID = re.compile(r"\bt-[0-9a-z]{4,}\b")
TOKEN = re.compile(r"\b\d+-[0-9a-z]{16}\b")
EXIT = re.compile(r"\(exit (\d+)\)")

pytestmark = pytest.mark.slow


def tour_lines(text: str) -> list[str]:
    """The command lines of the tour's ``sh`` blocks, in order."""
    start = text.index("## A 5-minute tour")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def python_snippet(text: str) -> str:
    start = text.index("## Using it from Python")
    return re.findall(r"```python\n(.*?)```", text[start:], re.DOTALL)[0]


class Shell:
    """One bash session: send a line, get its output and exit status."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def run(self, command: str, timeout: float = 180) -> tuple[int, str]:
        marker = f"__tour_{uuid.uuid4().hex}__"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command}\nprintf '\\n{marker} %s\\n' $?\n")
        self.proc.stdin.flush()
        out: list[str] = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith(marker):
                return int(line.split()[1]), "".join(out)
            out.append(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


class Names:
    """The README's example ids and tokens, bound to this run's real ones as they appear."""

    def __init__(self) -> None:
        self.created: list[str] = []  # real task ids, in creation order
        self.claims: list[str] = []  # real lease tokens, in claim order
        self.ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    def substitute(self, line: str) -> str:
        for shown in TOKEN.findall(line):
            if shown not in self.tokens:
                assert self.claims, f"the tour shows token {shown} before any claim: {line}"
                self.tokens[shown] = self.claims[len(self.tokens)]
        for shown in TASK_ID.findall(line):
            if shown not in self.ids:
                unbound = [t for t in self.created if t not in self.ids.values()]
                assert unbound, f"the tour shows {shown} before creating a task for it: {line}"
                self.ids[shown] = unbound[0]
        line = TOKEN.sub(lambda m: self.tokens[m[0]], line)
        return TASK_ID.sub(lambda m: self.ids[m[0]], line)

    def learn(self, line: str, output: str) -> None:
        if re.search(r"\baof task create\b", line):
            self.created.append(TASK_ID.findall(output)[0])
        if re.search(r'"token": "(\d+-[0-9a-z]{16})"', output):
            self.claims.append(re.findall(r'"token": "(\d+-[0-9a-z]{16})"', output)[0])


def test_the_readme_tour_runs_word_by_word(tmp_path: Path, aof_bin: str) -> None:
    text = README.read_text(encoding="utf-8")
    lines = tour_lines(text)
    assert len(lines) > 40  # the tour is there (the parser found it)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(aof_bin).parent}:{os.environ['PATH']}",
        # A person's machine has a git identity (aof itself needs none).
        "GIT_AUTHOR_NAME": "Alice",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
        "AOF_DEMO_SECONDS": "0.2",
    }
    for var in ("AOF_ROOT", "AOF_ACTOR", "AOF_TASK_ID", "AOF_LEASE_TOKEN"):
        env.pop(var, None)
    shell = Shell(env, home)
    names = Names()
    transcript: list[str] = []
    try:
        for line in lines:
            command = names.substitute(line)
            code, output = shell.run(command)
            transcript.append(f"$ {command}\n{output}[exit {code}]")
            (tmp_path / "tour.log").write_text("\n".join(transcript))  # the whole session
            expected = EXIT.search(line)
            want = int(expected[1]) if expected else 0
            assert code == want, "\n".join(transcript[-6:])
            names.learn(line, output)
    finally:
        shell.close()
    # The Python snippet, against the fleet the tour made.
    out = subprocess.run(
        [sys.executable, "-c", python_snippet(text)],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
    )
    assert out.returncode == 0, out.stderr
    root = home / "fleet"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, env=env
    )
    assert status.stdout == "", status.stdout  # every change of the tour was committed
