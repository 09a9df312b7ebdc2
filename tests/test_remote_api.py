"""The remote API end to end: a real `aof serve`, the `aof` CLI as real processes in a
directory that is no fleet root with AOF_API_URL and AOF_API_TOKEN in their environment,
run tokens scoped to one task, worker tokens to one host, and the client's retries."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from aof import Fleet
from aof.errors import Forbidden, RemoteError
from aof.fleetapi import mint_run_token, mint_worker_token, revoke_token
from aof.remote.client import RemoteFleet

from .conftest import Cli, git, sub_env
from .support.served import Served

pytestmark = pytest.mark.slow

SERVE = "serve-" + secrets.token_hex(16)  # a person's (human:alice), new each run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server(Served):
    """`aof serve` on ``port``, its token given through the environment (never argv)."""

    def __init__(self, root: Path, port: int) -> None:
        env = sub_env(AOF_SERVE_TOKEN=f"{SERVE}=human:alice", AOF_ACTOR="human:ops")
        super().__init__(root, env=env, port=port)


@pytest.fixture
def server(root: Path) -> Iterator[Server]:
    srv = Server(root, free_port())
    try:
        yield srv
    finally:
        if srv.proc.poll() is None:
            srv.stop()


class Remote:
    """`aof ...` as a process in ``away`` (no fleet root there or above it)."""

    def __init__(self, away: Path, url: str) -> None:
        self.away, self.url = away, url
        self.argvs: list[list[str]] = []

    def __call__(self, token: str, *args: str, code: int = 0, **env: str) -> Any:
        argv = [sys.executable, "-m", "aof", *args]
        self.argvs.append(argv)
        done = subprocess.run(
            argv,
            cwd=self.away,
            capture_output=True,
            text=True,
            env=sub_env(AOF_API_URL=self.url, AOF_API_TOKEN=token, **env),
            timeout=60,
        )
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, token: str, *args: str, **kw: Any) -> Any:
        return json.loads(self(token, *args, "--json", **kw).stdout)


@pytest.fixture
def remote(server: Server, tmp_path: Path) -> Remote:
    away = tmp_path / "laptop"
    away.mkdir()
    return Remote(away, server.url)


def audit_records(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((root / "audit").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_every_task_verb_works_remotely_and_is_audited_with_the_tokens_actor(
    root: Path, server: Server, remote: Remote
) -> None:
    made = remote.json(SERVE, "task", "create", "Ship the limiter", "--ready", "--label", "api")
    tid = made["id"]
    assert (root / made["path"]).is_file() and made["state"] == "ready"
    listed = remote(SERVE, "task", "list", "--label", "api").stdout
    assert tid in listed and "Ship the limiter" in listed
    claimed = remote.json(SERVE, "task", "claim", tid, "--agent", "coder-1")
    lease = claimed["token"]
    run_token = mint_run_token(Fleet(root), tid, f"{tid}.1", "agent:coder-1")
    agent = {"AOF_ACTOR": "agent:coder-1", "AOF_TASK_ID": tid, "AOF_LEASE_TOKEN": lease}
    beat = remote.json(run_token, "task", "heartbeat", **agent)
    assert beat["id"] == tid and beat["expires"]
    noted = remote(run_token, "task", "progress", "--note", "limiter written", **agent)
    assert noted.stdout.startswith(f"{tid} noted: in-progress  tasks/in-progress/")
    remote(run_token, "task", "block", "--question", "Keep the v1 endpoint?", **agent)
    shown = remote(run_token, "task", "show", tid).stdout
    assert "Keep the v1 endpoint?" in shown and shown.startswith("# tasks/blocked/")
    remote(SERVE, "task", "answer", tid, "--text", "Yes, until March")
    lease = remote.json(SERVE, "task", "claim", tid, "--agent", "coder-1")["token"]
    agent["AOF_LEASE_TOKEN"] = lease
    done = remote.json(run_token, "task", "complete", "--summary", "Limiter shipped", **agent)
    assert done["state"] == "done" and "body" not in done
    assert (root / done["path"]).is_file()

    by_action = {r["action"]: r for r in audit_records(root) if r["entity"].get("id") == tid}
    assert by_action["created"]["actor"] == {"kind": "human", "id": "alice"}
    assert by_action["answered"]["actor"] == {"kind": "human", "id": "alice"}
    for action in ("progress", "blocked", "completed"):
        assert by_action[action]["actor"] == {"kind": "agent", "id": "coder-1"}, action
    assert "Limiter shipped" in git(root, "log", "-p", "-3")

    # the secrets: not in the argv of any process started here, the audit or git history
    secrets = (SERVE, run_token)
    started = [server.argv, *remote.argvs, psutil.Process(server.proc.pid).cmdline()]
    for argv in started:
        assert not any(s in " ".join(argv) for s in secrets)
    history = git(root, "log", "-p", "--all") + "".join(
        p.read_text() for p in (root / "audit").rglob("*.jsonl")
    )
    assert not any(s in history for s in secrets)
    repo = Path(__file__).resolve().parent.parent
    for s in secrets:
        found = subprocess.run(["git", "grep", "-q", s], cwd=repo, check=False)
        assert found.returncode == 1


def test_a_run_token_is_refused_for_another_task_and_beyond_its_verbs(
    root: Path, server: Server, remote: Remote
) -> None:
    fleet = Fleet(root, actor="human:tester")
    mine = fleet.create_task("Mine", ready=True)
    other = fleet.create_task("Not mine", ready=True)
    lease = str(fleet.claim(mine.id, "coder-1").lease["token"])
    other_lease = str(fleet.claim(other.id, "coder-2").lease["token"])
    token = mint_run_token(fleet, mine.id, f"{mine.id}.1", "agent:coder-1")
    before = fleet.get_task(other.id).rev

    refused = remote(token, "task", "complete", other.id, "--summary", "x", code=14,
                     AOF_LEASE_TOKEN=other_lease)  # fmt: skip
    assert f"this token is for task {mine.id}" in refused.stderr
    assert server.url in refused.stderr
    assert fleet.get_task(other.id).rev == before and fleet.get_task(other.id).state.value == (
        "in-progress"
    )
    raw = httpx.post(
        f"{server.url}/api/tasks/{other.id}/progress",
        json={"note": "sneaky", "token": other_lease},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert raw.status_code == 403
    assert raw.json() == {"error": "forbidden", "message": f"this token is for task {mine.id}"}
    for args in (("task", "create", "Hand-off"), ("task", "list"), ("task", "cancel", mine.id,
                                                                   "--reason", "no")):  # fmt: skip
        assert "this token is for task" in remote(token, *args, code=14).stderr
    not_run = httpx.post(
        f"{server.url}/api/runs/{other.id}.1/log?name=stdout.log&offset=0",
        content=b"x",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert not_run.status_code == 403
    assert fleet.get_task(other.id).rev == before
    remote(token, "task", "progress", mine.id, "--note", "fine", AOF_LEASE_TOKEN=lease)


def test_a_wrong_or_revoked_token_is_refused(root: Path, server: Server, remote: Remote) -> None:
    fleet = Fleet(root, actor="human:tester")
    task = fleet.create_task("Guarded", ready=True)
    wrong = remote("aofr_" + "x" * 40, "task", "show", task.id, code=14)
    assert "not valid" in wrong.stderr and "AOF_API_TOKEN" in wrong.stderr
    assert remote("not-a-token", "task", "list", code=14).returncode == 14
    token = mint_run_token(fleet, task.id, f"{task.id}.1", "agent:coder-1")
    assert remote.json(token, "task", "show", task.id)["id"] == task.id
    revoke_token(fleet, run=f"{task.id}.1")
    raw = httpx.get(
        f"{server.url}/api/tasks/{task.id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert raw.status_code == 401 and raw.json()["error"] == "unauthorized"
    remote(token, "task", "show", task.id, code=14)
    # a scoped token never opens a dashboard session
    signin = httpx.get(f"{server.url}/signin", params={"token": token})
    assert signin.status_code == 401


def test_worker_tokens_send_their_hosts_heartbeat_and_their_runs_uploads(
    root: Path, run: Cli, server: Server
) -> None:
    for slug in ("mac-1", "box-2"):
        run("host", "create", "--slug", slug, "--name", slug, "--address", f"{slug}.local",
            "--platform", "linux", "--capacity-slots", "2")  # fmt: skip
    fleet = Fleet(root, actor="human:tester")
    worker = mint_worker_token(fleet, "mac-1")
    mint_run_token(fleet, "t-abcd12", "t-abcd12.1", "agent:coder-1", host="mac-1")
    mint_run_token(fleet, "t-efgh34", "t-efgh34.1", "agent:coder-2", host="box-2")
    with RemoteFleet(server.url, worker) as api:
        beat = api.host_heartbeat("mac-1", workers=["mac-1.0", "mac-1.1"], slots=2, slots_used=1)
        assert beat["host"] == "mac-1"
        assert api.upload_log("t-abcd12.1", "stdout.log", b"hello\n", 0) == 6
        assert api.upload_log("t-abcd12.1", "stdout.log", b"hello\nworld\n", 0) == 12  # retried
        status = api.run_status("t-abcd12.1", state="exited", exit_code=0, outcome="completed")
        assert status["host"] == "mac-1"
        with pytest.raises(Forbidden, match="host mac-1"):
            api.host_heartbeat("box-2", slots=1)
        with pytest.raises(Forbidden, match="not placed there"):
            api.upload_log("t-efgh34.1", "stdout.log", b"x", 0)
        with pytest.raises(Forbidden):
            api.list_tasks()
        big = b"y" * (500 * 1024)  # over one request's body limit: sent in parts
        assert api.upload_log("t-abcd12.1", "stderr.log", big, 0) == len(big)
    run_dir = root / "runs" / "t-abcd12" / "1"
    assert (run_dir / "stdout.log").read_bytes() == b"hello\nworld\n"
    assert (run_dir / "stderr.log").read_bytes() == big
    assert not (root / "runs" / "t-efgh34").exists()
    kept = json.loads((root / ".aof" / "host-beats" / "mac-1.json").read_text())
    assert kept["slots_used"] == 1 and kept["workers"] == ["mac-1.0", "mac-1.1"]


def test_an_unreachable_server_is_exit_12_naming_its_url(tmp_path: Path) -> None:
    away = tmp_path / "laptop"
    away.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "aof", "task", "list"],
        cwd=away,
        capture_output=True,
        text=True,
        env=sub_env(AOF_API_URL=url, AOF_API_TOKEN=SERVE),
        timeout=60,
    )
    assert done.returncode == 12, done.stderr
    assert url in done.stderr and "cannot be reached" in done.stderr
    board = subprocess.run(
        [sys.executable, "-m", "aof", "board"],
        cwd=away,
        capture_output=True,
        text=True,
        env=sub_env(AOF_API_URL=url, AOF_API_TOKEN=SERVE),
        timeout=60,
    )
    assert board.returncode == 7 and "only the `aof task` verbs" in board.stderr


def test_the_client_retries_until_a_restarted_server_answers(root: Path) -> None:
    port = free_port()
    first = Server(root, port)
    url = first.url
    first.stop()
    started: list[Server] = []
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # the pause between attempts: the server comes back
        pauses.append(seconds)
        if not started:
            started.append(Server(root, port))

    try:
        with RemoteFleet(url, SERVE, sleep=sleep) as api:
            made = api.create_task("After the restart", ready=True)
            assert api.get_task(made["id"])["title"] == "After the restart"
        assert pauses == [0.5] and len(started) == 1
        with RemoteFleet(url, SERVE, sleep=pauses.append, retries=2) as api:
            started[0].stop()
            with pytest.raises(RemoteError, match="3 attempts"):
                api.list_tasks()
        assert pauses[1:] == [0.5, 1.0]
    finally:
        for srv in started:
            if srv.proc.poll() is None:
                srv.stop()
