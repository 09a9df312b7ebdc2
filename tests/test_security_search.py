"""Attacks on search, the MCP server, run files, worktree prune and snapshot import, each
carried out for real: the query or document that used to stall the server, a reader stuck
behind a writer, SIGTERM during a search, and the rest."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from aof import Fleet, ValidationError
from aof.clock import FixedClock, SeededIds
from aof.knowledge import index as knowledge_index
from aof.knowledge.query import MAX_CHARS, MAX_TERMS
from aof.mcp.server import make

from .conftest import Cli, sub_env

WORDS = ("alpha", "beta", "gamma", "delta")
# What made one search take minutes: many terms over a body where each of them is
# everywhere (the cost of ranking and of the snippet grows faster than either).
DENSE_BODY = "alpha beta gamma delta " * 40000  # 920 KB
HEAVY_QUERY = " ".join(
    [*WORDS, *(w[:3] + "*" for w in WORDS)]
    + [f'"{WORDS[i]} {WORDS[(i + 1) % 4]}"' for i in range(4)]
    + [f'"{WORDS[i]} {WORDS[(i + 1) % 4]} {WORDS[(i + 2) % 4]}"' for i in range(4)]
)


def doc(fleet: Fleet, title: str, body: str = "") -> str:
    return fleet.knowledge.create_document({"title": title, "kind": "runbook"}, body=body).key


@pytest.fixture
def stop_cleared() -> Iterator[None]:
    knowledge_index.STOP.clear()
    yield
    knowledge_index.STOP.clear()


# --- the query is bounded ------------------------------------------------------------------


def test_the_6kb_query_is_refused_naming_the_limit(fleet: Fleet, run: Cli) -> None:
    doc(fleet, "Alpha runbook", "alpha " * 50)
    attack = "a* " * 2000  # 6 KB: pinned the MCP server at 100 % CPU for over 10 minutes
    with pytest.raises(ValidationError, match=f"6000 characters, more than the {MAX_CHARS}"):
        fleet.knowledge.search(text=attack)
    out = run("knowledge", "search", "--text", attack, code=6)
    assert out.stderr.count("\n") == 1 and f"the {MAX_CHARS} a search may have" in out.stderr


def test_more_terms_than_the_limit_are_refused_and_a_repeated_term_counts_once(
    fleet: Fleet,
) -> None:
    doc(fleet, "Alpha runbook", "alpha beta")
    too_many = " ".join(f"w{i}" for i in range(MAX_TERMS + 1))
    with pytest.raises(ValidationError, match=f"more than the {MAX_TERMS} different terms"):
        fleet.knowledge.search(text=too_many)
    repeated = fleet.knowledge.search(text="alpha " * 80)  # the audit's repeated word
    assert repeated["total"] == 1 and repeated["query"] == '"alpha"'
    either = fleet.knowledge.search(text="alpha OR alpha beta")
    assert either["total"] == 1


# --- what is indexed is bounded ----------------------------------------------------------------


def test_a_huge_body_is_searched_as_a_capped_prefix_and_says_so(fleet: Fleet) -> None:
    cap = knowledge_index.MAX_BODY
    doc(fleet, "Big one", "early " + DENSE_BODY + " needle")
    assert fleet.knowledge.search(text="needle")["total"] == 0  # past the indexed prefix
    hit = fleet.knowledge.search(text="early")["results"][0]
    assert hit["note"] == (
        f"only the first {cap:,} of the body's {len('early ' + DENSE_BODY + ' needle') + 1:,} "
        "characters are searched"
    )
    assert fleet.knowledge.get("document", hit["id"]).card.body.rstrip().endswith("needle")


# --- the time a search takes is bounded -----------------------------------------------------


def test_a_search_past_its_time_budget_stops_with_one_error(fleet: Fleet) -> None:
    for i in range(40):
        doc(fleet, f"Runbook {i} alpha", "alpha beta gamma " * 20)
    fleet.knowledge.index.refresh()
    index = fleet.knowledge.index
    assert index.budget_s == knowledge_index.SEARCH_BUDGET_S == 2.0
    index.budget_s = 0.0  # every search is over budget at once
    with pytest.raises(ValidationError, match="took more than the 0 s a search may take"):
        fleet.knowledge.search(text="alpha beta")
    index.budget_s = 2.0
    assert fleet.knowledge.search(text="alpha beta")["total"] == 40


def test_stop_ends_every_search_at_once(fleet: Fleet, stop_cleared: None) -> None:
    doc(fleet, "Dense", DENSE_BODY)
    fleet.knowledge.index.budget_s = 600.0  # only STOP can end it early
    knowledge_index.STOP.set()  # what a server does when it is told to stop
    with pytest.raises(ValidationError, match="the search was stopped: aof is stopping"):
        fleet.knowledge.search(text=HEAVY_QUERY)


def test_the_heaviest_query_over_a_dense_body_gets_its_snippet(fleet: Fleet) -> None:
    doc(fleet, "Dense", DENSE_BODY)  # 16 phrases here took SQLite's snippet() minutes
    hit = fleet.knowledge.search(text=HEAVY_QUERY)["results"][0]
    assert hit["snippet"].startswith("**alpha beta gamma delta")
    assert hit["snippet"].endswith("…") and len(hit["snippet"].split()) <= 16
    assert "\x02" not in hit["snippet"] and hit["snippet"].count("**") % 2 == 0


# --- reads and writes in the MCP server do not wait for each other ----------------------------


def call(server: Any, tool: str, **args: Any) -> Any:
    async def main() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return asyncio.run(main())


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    worker.start()
    return worker, out


def test_read_only_tools_neither_wait_behind_nor_block_a_writer(
    root: Path, clock: FixedClock
) -> None:
    server, callers = make(root, profile="all", actor="human:ops", env={}, clock=clock,
                           ids=SeededIds(7))  # fmt: skip
    with callers.lock:  # a writer is busy
        reads = [
            in_thread(lambda: call(server, "aof_board")),
            in_thread(lambda: call(server, "aof_knowledge_search", text="anything")),
            in_thread(lambda: asyncio.run(_resource(server, "aof://board"))),
        ]
        for worker, _ in reads:
            worker.join(timeout=60)
        assert all(out and not getattr(out[0], "is_error", False) for _, out in reads)
    with callers.read_lock:  # a reader is busy
        worker, out = in_thread(lambda: call(server, "aof_create", title="Made", ready=True))
        worker.join(timeout=60)
        assert out and not out[0].is_error


async def _resource(server: Any, uri: str) -> Any:
    async with Client(server) as client:
        return await client.read_resource(uri)


def test_reads_stay_correct_while_a_writer_works(root: Path, clock: FixedClock) -> None:
    server, _ = make(root, profile="all", actor="human:ops", env={}, clock=clock,
                     ids=SeededIds(7))  # fmt: skip
    errors: list[Any] = []

    def writer() -> None:
        for i in range(8):
            done = call(server, "aof_create", title=f"Task {i}", ready=True)
            if done.is_error:
                errors.append(done)

    def reader() -> None:
        for _ in range(8):
            board = call(server, "aof_board")
            if board.is_error:
                errors.append(board)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert call(server, "aof_board").structured_content["counts"]["ready"] == 8


# --- SIGTERM stops the server during a search ---------------------------------------------------


def test_sigterm_stops_the_http_server_while_a_search_runs(tmp_path: Path) -> None:
    from .test_mcp_e2e import start_http

    live = Fleet.init(tmp_path / "fleet", actor="human:tester")  # real clock: real processes
    doc(live, "Dense", DENSE_BODY)
    secret = "s3cret-token-for-sigterm"
    proc, port, _ = start_http(live.root, "--token", f"{secret}=agent:coder-1")
    url = f"http://127.0.0.1:{port}/mcp"

    async def search() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {secret}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as c:
            return await c.call_tool("aof_knowledge_search", {"text": HEAVY_QUERY})

    client, _ = in_thread(lambda: _quietly(lambda: asyncio.run(search())))
    try:
        time.sleep(1.5)  # the search is running
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    client.join(timeout=30)


def _quietly(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BaseException as exc:  # the server went away under the client
        return exc


def test_sigterm_stops_the_stdio_server_while_a_search_runs(tmp_path: Path) -> None:
    live = Fleet.init(tmp_path / "fleet", actor="human:tester")
    doc(live, "Dense", DENSE_BODY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aof", "--root", str(live.root), "mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=sub_env(AOF_ACTOR="agent:coder-1"),
    )
    assert proc.stdin is not None and proc.stdout is not None
    import json

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        proc.stdin.flush()

    try:
        send({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}})  # fmt: skip
        proc.stdout.readline()
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/call", "params": {
            "name": "aof_knowledge_search", "arguments": {"text": HEAVY_QUERY}}})  # fmt: skip
        time.sleep(1.5)  # the search is running
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()


# --- worktree prune removes only what aof made -------------------------------------------------


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path,
                       check=True, capture_output=True)  # fmt: skip
    return path


def test_worktree_prune_removes_only_worktrees_aof_made(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    from aof.runner import worktrees

    precious = tmp_path / "precious"  # runner.worktrees_dir set to a directory of one's own
    (precious / "mydata").mkdir(parents=True)
    (precious / "mydata" / "file.txt").write_text("important\n")
    (precious / "photos").mkdir()
    (precious / "t-aaaa11").mkdir()  # named like a task, but a plain directory
    (precious / "t-aaaa11" / "notes.txt").write_text("mine\n")
    repo = _repo(tmp_path / "repo")
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "worktree",
            "add",
            "-q",
            "-b",
            "by-hand",
            str(precious / "t-bbbb22"),
        ],
        check=True,
    )  # fmt: skip  (made by hand)
    assert worktrees.ensure(precious / "t-cccc33", repo, "aof/t-cccc33", "main")  # made by aof
    assert not list((precious / "t-cccc33").glob("aof-*"))  # the marker is not in the tree
    (fleet.root / "aof.yaml").write_text(
        (fleet.root / "aof.yaml").read_text() + f"runner:\n  worktrees_dir: {precious}\n"
    )
    listed = {r["task"]: r for r in run.json("worktree", "list")}
    assert {k: v["ours"] for k, v in listed.items()} == {
        "mydata": False, "photos": False, "t-aaaa11": False, "t-bbbb22": False, "t-cccc33": True
    }  # fmt: skip
    pruned = {r["task"]: (r["action"], r["reason"]) for r in run.json("worktree", "prune")}
    assert pruned.pop("t-cccc33") == ("removed", "task is missing")
    assert set(pruned.values()) == {("kept", "not a worktree aof made")}
    assert (precious / "mydata" / "file.txt").read_text() == "important\n"
    assert (precious / "t-aaaa11" / "notes.txt").exists() and (precious / "photos").is_dir()
    assert (precious / "t-bbbb22" / ".git").is_file()
    assert not (precious / "t-cccc33").exists()
    with pytest.raises(worktrees.WorktreeError, match="not a worktree aof made"):
        worktrees.remove(worktrees.read(precious / "t-aaaa11"))


# --- run files holding tokens or coder env are the owner's only ---------------------------------


def test_run_files_with_tokens_or_coder_env_are_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    from aof.runner.executor import LocalExecutor, RunSpec

    old = os.umask(0o022)  # what made them 0644
    try:
        live = Fleet.init(tmp_path / "fleet", actor="human:tester")  # real clock: real shim
        task = live.create_task("Secret run", ready=True)
        token = live.claim(task.id, "coder-1").lease["token"]  # type: ignore[index]
        live.heartbeat(task.id, token)
        executor = LocalExecutor(live.root)
        spec = RunSpec(
            task.id,
            1,
            token,
            "coder-1",
            "command",
            ["true"],
            env={"MY_API_KEY": "sk-live-CODER-ENV-SECRET", "AOF_LEASE_TOKEN": token},
        )
        started = executor.submit(spec)  # fmt: skip
        for _ in range(600):  # the supervisor is a real process: let it finish
            status = executor.status(started.run_id)
            if status is None or status.state != "running":
                break
            time.sleep(0.05)
    finally:
        os.umask(old)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.lstat().st_mode)

    run_dir = live.root / "runs" / task.id / "1"
    assert "sk-live-CODER-ENV-SECRET" in (run_dir / "run.json").read_text()
    assert mode(run_dir / "run.json") == 0o600
    assert mode(live.root / "runs") == mode(run_dir) == 0o700
    assert mode(live.root / ".aof") == mode(live.root / ".aof" / "heartbeats") == 0o700
    assert mode(live.root / ".aof" / "heartbeats" / f"{task.id}.json") == 0o600
    planted = run_dir / ".pane.env"  # the tmux env file never goes through a planted link
    planted.symlink_to(tmp_path / "elsewhere")
    from aof.files.privatefiles import open_private

    with pytest.raises(OSError):
        open_private(planted)
    assert not (tmp_path / "elsewhere").exists()


# --- MCP tokens stay out of ps ----------------------------------------------------------------


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.parametrize("how", ["file", "environment"])
def test_mcp_tokens_from_a_file_or_the_environment_stay_out_of_ps(tmp_path: Path, how: str) -> None:
    import httpx2

    from .test_mcp_e2e import free_port

    live = Fleet.init(tmp_path / "fleet", actor="human:tester")
    secret = "s3cret-token-kept-out-of-ps"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# the web agent\n{secret}=agent:web-1\n")
    tokens.chmod(0o600)
    port = free_port()
    argv = [sys.executable, "-m", "aof", "--root", str(live.root), "mcp", "serve", "--http",
            str(port)]  # fmt: skip
    env = sub_env(AOF_ACTOR="human:ops")
    if how == "file":
        argv += ["--token-file", str(tokens)]
    else:
        env["AOF_MCP_TOKEN"] = f"{secret}=agent:web-1"
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)  # fmt: skip
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert "serving" in banner and secret not in banner
        assert secret not in _cmdline(proc.pid)
        url = f"http://127.0.0.1:{port}/mcp"
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        for _ in range(200):
            try:
                wrong = httpx2.post(url, json=hello)
                break
            except httpx2.TransportError:
                time.sleep(0.05)
        assert wrong.status_code == 401
        right = httpx2.post(
            url,
            json=hello,
            headers={
                "Authorization": f"Bearer {secret}",
                "Accept": "application/json, text/event-stream",
            },
        )
        assert right.status_code != 401  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_a_token_file_others_could_read_is_refused(run: Cli, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("s3cret-token-kept-out-of-ps=agent:web-1\n")
    tokens.chmod(0o644)
    out = run("mcp", "serve", "--http", "1", "--token-file", str(tokens), code=6)
    assert out.stderr.count("\n") == 1
    assert f"--token-file: {tokens}: mode 0644 lets others read or write it" in out.stderr
    link = tmp_path / "link"
    link.symlink_to(tokens)
    tokens.chmod(0o600)
    out = run("mcp", "serve", "--http", "1", "--token-file", str(link), code=6)
    assert f"--token-file: {link}: cannot read it" in out.stderr


# --- snapshot import shows setup commands before applying them ---------------------------------


def test_snapshot_import_shows_setup_commands_and_applies_them_only_with_yes(
    run: Cli, root: Path, tmp_path: Path
) -> None:
    repo = _repo(tmp_path / "repo")
    run("team", "create", "--slug", "web", "--name", "Web", "--mission", "m",
        "--ownership", "company")  # fmt: skip
    run("project", "create", "--team", "web", "--slug", "p3", "--root-path", str(repo))
    snap = tmp_path / "snap.json"
    run("snapshot", "export", "--output", str(snap))
    project = root / "projects" / "p3.md"
    before = project.read_text()
    evil = before.replace(
        "schema: aof/project/v1\n",
        "schema: aof/project/v1\nsetup:\n- id > /tmp/pwned-by-snapshot\n",
    )
    assert evil != before  # fmt: skip
    data = __import__("json").loads(snap.read_text())
    for item in data["files"]:
        if item["path"] == "projects/p3.md":
            item["text"] = evil
    snap.write_text(__import__("json").dumps(data))
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip

    refused = run("snapshot", "import", str(snap), code=6)  # no terminal, no --yes
    shown = 'projects/p3.md: setup: ["id > /tmp/pwned-by-snapshot"]'
    assert shown in refused.stderr and "import with --yes" in refused.stderr
    assert project.read_text() == before  # nothing written, nothing committed
    assert subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout == head  # fmt: skip

    def at_a_terminal(answer: str) -> subprocess.CompletedProcess[str]:
        import os
        import pty

        master, slave = pty.openpty()
        try:
            os.write(master, answer.encode())
            return subprocess.run(
                [sys.executable, "-m", "aof", "--root", str(root), "snapshot", "import", str(snap)],
                stdin=slave, capture_output=True, text=True, timeout=120,
                env=sub_env(AOF_ACTOR="human:tester"),
            )  # fmt: skip
        finally:
            os.close(master)
            os.close(slave)

    said_no = at_a_terminal("n\n")
    assert said_no.returncode == 6 and shown in said_no.stderr and "Apply these?" in said_no.stderr
    assert project.read_text() == before
    said_yes = at_a_terminal("y\n")
    assert said_yes.returncode == 0, said_yes.stderr
    assert project.read_text() == evil
    project.write_text(before)  # back, to import once more with --yes
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qam", "back"], check=True)  # fmt: skip

    applied = run.json("snapshot", "import", str(snap), "--yes")
    assert applied["written"] == ["projects/p3.md"] and project.read_text() == evil
    again = run.json("snapshot", "import", str(snap))  # unchanged now: nothing to confirm
    assert again["written"] == []
