"""The command server (``AOF_SERVER=1``): real `aof` processes, a real server, real signals.

A served call must be indistinguishable from one run in its own process: the same output,
errors and exit codes, the caller's standard input, working directory and environment;
Ctrl-C reaches the command; parallel calls each land; a changed aof is never run old; an
idle server goes away; an unsafe socket directory is never used.
"""

from __future__ import annotations

import json
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


def waiting_call(served: Served, root: Path) -> subprocess.Popen[str]:
    """A served `task create` that waits on its standard input (kept open by the caller of
    this), once the server has forked its child."""
    started(served)
    calls_before = served.log().count("call pid=")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aof", "task", "create", "Never made", "--body-file", "-"],
        cwd=root,
        env=served.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    until(lambda: served.log().count("call pid=") > calls_before, "the call to be served")
    return proc


def test_ctrl_c_reaches_the_command_and_the_server_serves_on(served: Served, root: Path) -> None:
    proc = waiting_call(served, root)
    try:
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


def test_a_caller_killed_mid_call_has_its_command_hung_up(served: Served, root: Path) -> None:
    """A caller that dies without a word (SIGKILL: nothing forwarded) leaves a command that
    nobody waits for: the server hangs it up, as a closed terminal would, and serves on."""
    proc = waiting_call(served, root)
    try:
        proc.kill()
        proc.wait(timeout=30)
        until(lambda: "exit=129" in served.log(), "the command to be hung up")  # 128 + SIGHUP
    finally:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        if proc.poll() is None:
            proc.kill()
    assert not list((root / "tasks").rglob("t-*-never-made.md"))
    assert served("task", "list").returncode == 0


def state_of(pid: int) -> str:
    """A process's state letter (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]


def test_ctrl_z_stops_the_command_and_fg_continues_it(served: Served, root: Path) -> None:
    """Ctrl-Z (SIGTSTP to the caller) stops the served command, then the caller; SIGCONT
    (the shell's fg) continues both, and the call ends as it would have."""
    proc = waiting_call(served, root)
    child = int(served.log().rsplit("call pid=", 1)[1].split()[0])
    try:
        proc.send_signal(signal.SIGTSTP)
        until(lambda: state_of(proc.pid) == "T" and state_of(child) == "T", "both to stop")
        proc.send_signal(signal.SIGCONT)
        until(lambda: state_of(proc.pid) != "T" and state_of(child) != "T", "both to go on")
        _out, err = proc.communicate("Its body.\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    [made] = (root / "tasks" / "backlog").glob("t-*-never-made.md")
    assert "Its body." in made.read_text(encoding="utf-8")


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
    """Commands that run until stopped (and watch the fleet meanwhile, which a served child
    would do from what it started with) are never served."""
    started(served)
    out = served("daemon", "--help")
    assert out.returncode == 0 and "daemon" in out.stdout
    refresh = served("board", "--watch")  # no terminal here: refused, in the caller's process
    assert refresh.returncode == 2 and "--watch needs a terminal" in refresh.stderr
    follow = served("agent", "logs", "nobody", "-f")
    assert follow.returncode != 0
    log = served.log()
    assert "daemon" not in log and "board" not in log and "agent" not in log, log


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


def held(s: Served, root: Path) -> None:
    """Make a served call, then wait until the server holds ``root`` (it lists its open
    tasks after the call has its answer)."""
    out = s("task", "list")
    assert out.returncode == 0, out.stderr
    until(lambda: f"holding {root.resolve()}" in s.log(), "the server to hold the root")


def titles(s: Served, **kw: object) -> dict[str, str]:
    out = s("task", "list", "--json", **kw)
    assert out.returncode == 0, out.stderr
    return {row["id"]: row["title"] for row in json.loads(out.stdout)}


def test_a_served_listing_sees_every_change_made_before_it(served: Served, root: Path) -> None:
    """The server answers listings from what it read after earlier calls, trusting its
    inotify watch: a file edited in place (same inode, same size), dropped in, removed or
    moved by hand before a call must show in that call exactly as in a call of its own."""
    made = [json.loads(served("task", "create", f"Task {i}", "--json").stdout) for i in range(3)]
    started(served)
    held(served, root)
    first, second, third = (root / m["path"] for m in made)
    # in place, same size: only the watch can tell (the inode stays; the size too)
    with open(first, "r+", encoding="utf-8") as fh:
        text = fh.read()
        fh.seek(0)
        fh.write(text.replace("title: Task 0", "title: Edit 0"))
    assert titles(served)[made[0]["id"]] == "Edit 0"
    # dropped in by hand: a copy of a task under a new id
    new_id = "t-zz9zz9"
    copy = first.with_name(first.name.replace(made[0]["id"], new_id))
    copy.write_text(first.read_text().replace(made[0]["id"], new_id))
    # removed, and moved to another state, by hand
    second.unlink()
    third.rename(root / "tasks" / "ready" / third.name)
    shown = titles(served)
    assert set(shown) == {made[0]["id"], new_id, made[2]["id"]}
    ready = served("task", "list", "--state", "ready", "--json")
    assert [r["id"] for r in json.loads(ready.stdout)] == [made[2]["id"]]
    # and every listing equals the one made in a process of its own
    for args in (("task", "list"), ("task", "list", "--json"), ("fleet", "overview")):
        assert served(*args).stdout == served(*args, served=False).stdout, args


def test_a_state_directory_swapped_by_hand_is_read_afresh(served: Served, root: Path) -> None:
    """A watched directory swapped for a copy made by hand (hard links: the same inodes),
    whose task was edited in place through the copy, where no watch sees it: once the
    directory is swapped, nothing of what was held of it is trusted."""
    made = json.loads(served("task", "create", "Kept", "--ready", "--json").stdout)
    ready = root / "tasks" / "ready"
    copy = root / "ready-copy"
    copy.mkdir()
    name = Path(made["path"]).name
    os.link(ready / name, copy / name)
    started(served)
    held(served, root)
    with open(copy / name, "r+", encoding="utf-8") as fh:  # the same inode as ready's
        text = fh.read()
        fh.seek(0)
        fh.write(text.replace("title: Kept", "title: Edit"))
    ready.rename(root / "ready-old")
    copy.rename(ready)
    assert titles(served) == {made["id"]: "Edit"}
    until(lambda: "forgot" in served.log(), "the server to forget the root")


def test_a_full_event_queue_forgets_everything_held(root: Path) -> None:
    """inotify drops events once its queue is full and says so: then nothing held is
    trusted (in this process, with the server's Memory)."""
    from aof import Fleet
    from aof.files.inotify import IN_Q_OVERFLOW, Event
    from aof.launch.memory import Memory
    from aof.store.tasks import TaskStore

    Fleet(root).create_task("Held")
    memory = Memory()
    if memory.inotify is None:
        pytest.skip("inotify is not available here")
    try:
        memory.after_call({"argv": ["aof", "task", "list"], "cwd": str(root), "env": {}})
        seen = TaskStore(root.resolve()).seen
        assert seen is not None and len(seen.memo("backlog")[0]) == 1
        memory.inotify.read = lambda: [Event(-1, IN_Q_OVERFLOW, "")]  # type: ignore[method-assign]
        memory.take_events()
        assert seen.memo("backlog")[0] == {}
    finally:
        memory.drop(root.resolve(), "the test ended")
        memory.close_in_child()
    assert TaskStore(root.resolve()).seen is None


def test_the_root_a_call_used_is_found_as_the_cli_finds_it(root: Path, tmp_path: Path) -> None:
    from aof.launch.memory import root_of

    sub = root / "tasks"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = root.resolve()
    rel = os.path.relpath(root, elsewhere)

    def call(*argv: str, cwd: Path = elsewhere, **env: str) -> Path | None:
        return root_of({"argv": ["aof", *argv], "cwd": str(cwd), "env": env})

    assert call("task", "list", cwd=sub) == real  # from a directory inside it
    assert call("--root", rel, "task", "list") == real  # relative to the caller's directory
    assert call(f"--root={root}", "task", "list") == real
    assert call("task", "list", AOF_ROOT=rel) == real
    assert call("task", "list") is None  # no fleet root there
    assert call("task", "list", "--root", str(root)) is None  # a command's word, not the group's


def test_the_least_recently_served_root_is_let_go(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most MAX_ROOTS roots are held: serving one more lets the least recent one go, its
    memo and its watches with it (in this process, with the server's Memory)."""
    from aof import Fleet
    from aof.launch import memory as held_roots
    from aof.store.tasks import TaskStore

    other = Fleet.init(tmp_path / "other", actor="human:tester").root.resolve()
    monkeypatch.setattr(held_roots, "MAX_ROOTS", 1)
    said: list[str] = []
    memory = held_roots.Memory(said.append)
    if memory.inotify is None:
        pytest.skip("inotify is not available here")
    try:
        for where in (root, other, other):
            memory.after_call({"argv": ["aof", "task", "list"], "cwd": str(where), "env": {}})
        assert list(memory.roots) == [other]
        assert TaskStore(root.resolve()).seen is None and TaskStore(other).seen is not None
        assert {r for r, _rel in memory.by_wd.values()} == {other}
        assert said == [
            f"holding {root.resolve()}",
            f"holding {other}",
            f"forgot {root.resolve()}: served least recently",
        ]
    finally:
        for held in list(memory.roots):
            memory.drop(held, "the test ended")
        memory.close_in_child()
