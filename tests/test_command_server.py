"""The command server (``AOF_SERVER=1``): real `aof` processes, a real server, real signals.

A served call must be indistinguishable from one run in its own process: the same output,
errors and exit codes, the caller's standard input, working directory and environment;
Ctrl-C reaches the command; parallel calls each land; a changed aof is never run old; an
idle server goes away; an unsafe socket directory is never used.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import git, sub_env

AOF = Path(__file__).resolve().parent.parent / "aof"


class Served:
    """`aof` calls with a command server of their own (its socket in a private directory)."""

    def __init__(self, root: Path, where: Path, python_path: str | None = None) -> None:
        self.root, self.where = root, where
        self.env = sub_env(AOF_SERVER="1", AOF_SERVER_DIR=str(where), AOF_SERVER_IDLE_S="60")
        if python_path:
            self.env["PYTHONPATH"] = python_path

    def __call__(
        self, *args: str, served: bool = True, cwd: Path | None = None, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, AOF_SERVER="1" if served else "0")
        env.update(kw.pop("env", {}))  # type: ignore[call-overload]
        return subprocess.run(
            [sys.executable, "-m", "aof", *args],
            cwd=cwd or self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            **kw,  # type: ignore[call-overload]
        )

    def log(self) -> str:
        logs = list(self.where.glob("cli-*.log"))
        return logs[0].read_text(encoding="utf-8") if logs else ""

    def socket(self) -> Path | None:
        return next(iter(self.where.glob("cli-*.sock")), None)

    def pid(self) -> int | None:
        started = [ln for ln in self.log().splitlines() if " started pid=" in ln]
        return int(started[-1].rsplit("=", 1)[1]) if started else None

    def wait_started(self) -> None:
        until(lambda: self.socket() is not None and "started" in self.log(), "a server")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            until(lambda: not alive(pid), "the server to stop")


def until(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def served(root: Path) -> Iterator[Served]:
    where = Path(tempfile.mkdtemp(prefix="aofs-", dir="/tmp"))  # a short path: AF_UNIX's limit
    s = Served(root, where)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(where, ignore_errors=True)


def started(s: Served) -> None:
    """Make the first call (it runs in its own process and starts the server)."""
    first = s("task", "list")
    assert first.returncode == 0, first.stderr
    s.wait_started()


def test_a_served_call_is_the_call_run_in_its_own_process(served: Served, root: Path) -> None:
    for title in ("Fix the login bug", "Write the docs"):
        assert served("task", "create", title, served=False).returncode == 0
    started(served)
    calls = [
        ("task", "list"),
        ("task", "list", "--json"),
        ("task", "show", "t-0000", "--json"),  # no such task: an error and its exit code
        ("task", "lst"),  # a usage error: click's message and exit 2
        ("board",),
        ("team", "list"),
        ("--help",),
    ]
    for args in calls:
        here, there = served(*args, served=False), served(*args)
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode,
            here.stdout,
            here.stderr,
        ), args
    log = served.log()
    assert "call pid=" in log and "task list" in log and "team list" in log, log
    assert log.count("exit=2") == 1 and "exit=3" in log


def test_the_caller_s_stdin_directory_and_environment_are_the_command_s(
    served: Served, root: Path
) -> None:
    started(served)
    (root / "notes").mkdir()
    made = served(
        "task",
        "create",
        "From a subdirectory",
        "--body-file",
        "-",
        cwd=root / "notes",  # the root is found upward from here
        input="The body, from standard input.\n",
        env={"AOF_ACTOR": "human:carol"},
    )
    assert made.returncode == 0, made.stderr
    path = root / made.stdout.split()[-1]
    assert "The body, from standard input." in path.read_text(encoding="utf-8")
    assert "human:carol" in git(root, "log", "-1", "--format=%an")
    assert "call pid=" in served.log() and "task create" in served.log()


def test_ctrl_c_reaches_the_command_and_the_server_serves_on(served: Served, root: Path) -> None:
    started(served)
    calls_before = served.log().count("call pid=")
    proc = subprocess.Popen(  # waits on its standard input, which stays open
        [sys.executable, "-m", "aof", "task", "create", "Never made", "--body-file", "-"],
        cwd=root,
        env=served.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until(lambda: served.log().count("call pid=") > calls_before, "the call to be served")
        time.sleep(0.3)  # the child reads its stdin by now; a signal earlier stops it too
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # What Ctrl-C does to a click command in its own process: "Aborted!" and exit 1.
    assert (proc.returncode, err) == (1, "\nAborted!\n")
    assert not list((root / "tasks").rglob("t-*-never-made.md"))
    after = served("task", "list")
    assert after.returncode == 0 and "Never made" not in after.stdout
    assert "exit=1" in served.log()


def test_parallel_served_calls_each_land_with_their_own_id(served: Served, root: Path) -> None:
    started(served)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aof", "task", "create", f"Parallel {i}"],
            cwd=root,
            env=served.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    ids = {out.split()[0] for out, _err in outs}
    assert len(ids) == 8  # a forked child never repeats another's random ids
    assert len(list((root / "tasks" / "backlog").glob("t-*-parallel-*.md"))) == 8
    assert git(root, "log", "--format=%s").count("create") >= 8
    assert served.log().count("exit=0") >= 8


def test_a_changed_aof_is_never_run_by_an_older_server(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(AOF, copy / "aof", ignore=shutil.ignore_patterns("__pycache__"))
    where = Path(tempfile.mkdtemp(prefix="aofs-", dir="/tmp"))
    s = Served(root, where, python_path=str(copy))
    try:
        started(s)
        old = s.pid()
        assert s("task", "list").returncode == 0 and "task list" in s.log()
        module = copy / "aof" / "cli" / "task.py"
        text = module.read_text(encoding="utf-8")
        module.write_text(text.replace('click.echo("no tasks")', 'click.echo("nothing here")'))
        after = s("task", "list", "--state", "deadletter")
        assert after.returncode == 0
        assert after.stdout == "nothing here\n"  # the new code ran, in the caller's process
        assert "aof changed since this server started: stopping" in s.log()
        assert old is not None
        until(lambda: not alive(old), "the old server to stop")
    finally:
        s.stop()
        shutil.rmtree(where, ignore_errors=True)


def test_an_idle_server_stops_and_removes_its_socket(served: Served) -> None:
    served.env["AOF_SERVER_IDLE_S"] = "1"
    started(served)
    pid = served.pid()
    assert pid is not None
    until(lambda: served.socket() is None and not alive(pid), "the idle server to stop")
    assert "idle: stopping" in served.log()


def test_a_socket_directory_others_may_write_is_never_used(root: Path) -> None:
    where = Path(tempfile.mkdtemp(prefix="aofs-", dir="/tmp"))
    try:
        where.chmod(0o777)
        s = Served(root, where)
        out = s("task", "list")
        assert out.returncode == 0 and out.stdout == "no tasks\n"
        time.sleep(1.0)  # a server, had one been started, would have made its socket by now
        assert list(where.iterdir()) == []
    finally:
        shutil.rmtree(where, ignore_errors=True)


def test_long_running_commands_always_run_in_the_caller_s_process(served: Served) -> None:
    started(served)
    out = served("daemon", "--help")
    assert out.returncode == 0 and "daemon" in out.stdout
    assert "daemon" not in served.log()


def test_a_served_call_imports_only_the_client(served: Served, root: Path) -> None:
    """The point of the server is a call that pays for no imports: the client side of a
    served `task create` loads aof's launcher and nothing of the CLI or the library."""
    started(served)
    code = (
        "import sys\n"
        "sys.argv = ['aof', 'task', 'create', 'Imports']\n"
        "from aof.launch import main\n"
        "try:\n    main()\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=served.env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    mods = set(out.stderr.rsplit("\nMODULES ", 1)[1].split())
    assert sorted(m for m in mods if m.startswith("aof")) == [
        "aof",
        "aof.launch",
        "aof.launch.client",
        "aof.launch.where",
    ]
    assert not {"click", "typing", "enum", "subprocess"} & mods
    assert list((root / "tasks" / "backlog").glob("t-*-imports.md"))
