"""A real `aof serve` process: its banner, live events from changes made by another process
(the CLI, a hand edit), /metrics from loopback, /mcp with a real MCP client, and a prompt
stop with an event stream open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aof import Fleet

from .conftest import sub_env
from .support.served import Served

pytestmark = pytest.mark.slow

TOKEN = "live-token-0123456789ab"


class Server(Served):
    def __init__(self, root: Path, *args: str) -> None:
        super().__init__(root, *args, env=sub_env(AOF_ACTOR="human:ops"))


@pytest.fixture
def server(root: Path) -> Iterator[Server]:
    srv = Server(root, "--token", TOKEN)
    try:
        yield srv
    finally:
        if srv.proc.poll() is None:
            srv.stop()


def events_until(
    url: str, want: Any, *, timeout_s: float = 30.0, act: Any = None
) -> list[dict[str, Any]]:
    """Read /api/events until an event satisfies ``want`` (``act`` runs once connected)."""
    seen: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        httpx.Client(timeout=httpx.Timeout(timeout_s)) as http,
        http.stream("GET", f"{url}/api/events", headers=headers) as answer,
    ):
        timer = threading.Timer(timeout_s, answer.close)  # the pings keep reads alive
        timer.start()
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in answer.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind is not None:
                data = json.loads(line.split(":", 1)[1])
                seen.append({**data, "sse": kind})
                if kind == "hello" and act is not None:
                    act()
                if want(seen[-1]):
                    timer.cancel()
                    return seen
    raise AssertionError(f"no such event; saw {seen}")


def test_the_banner_names_the_sign_in_link_and_never_prints_a_given_token(
    root: Path, server: Server
) -> None:
    assert f"sign in at {server.url}/signin (with your token)" in server.banner[1]
    assert TOKEN not in "".join(server.banner)
    generated = Server(root)
    try:
        link = re.search(r"sign in at (\S+)", generated.banner[1])
        assert link and "/signin?token=aof_" in link.group(1)
        answer = httpx.get(link.group(1), follow_redirects=False)
        assert answer.status_code == 303 and "aof_session=" in answer.headers["set-cookie"]
    finally:
        generated.stop()


def test_a_task_created_by_the_cli_reaches_an_open_stream(root: Path, server: Server) -> None:
    def create() -> None:
        subprocess.run(
            [sys.executable, "-m", "aof", "--root", str(root), "task", "create", "From the CLI"],
            check=True,
            capture_output=True,
            env=sub_env(),
        )

    seen = events_until(server.url, lambda e: e["sse"] == "task", act=create)
    task = seen[-1]
    assert task["kind"] == "task" and task["state"] == "backlog"
    assert task["path"].startswith("tasks/backlog/" + task["id"])
    assert Fleet(root).get_task(task["id"]).title == "From the CLI"


def test_a_hand_edit_and_its_audit_line_are_events_too(root: Path, server: Server) -> None:
    fleet = Fleet(root, actor="human:tester")
    task = fleet.create_task("Edited by hand")

    def edit() -> None:
        path = root / "tasks" / "backlog" / task.path.name
        path.write_text(path.read_text().replace("Edited by hand", "Edited in vim"))

    seen = events_until(server.url, lambda e: e.get("id") == task.id, act=edit)
    assert seen[-1]["state"] == "backlog"

    def promote() -> None:
        fleet.promote(task.id)

    seen = events_until(
        server.url, lambda e: e["sse"] == "audit" and e["event"] == "promoted", act=promote
    )
    assert seen[-1]["task"] == task.id and seen[-1]["actor"] == "human:tester"


def test_metrics_from_loopback_parse_and_move_with_work(root: Path, server: Server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def ready_count() -> float:
        text = httpx.get(f"{server.url}/metrics").text
        for family in text_string_to_metric_families(text):
            if family.name == "aof_tasks":
                return sum(s.value for s in family.samples if s.labels["state"] == "ready")
        raise AssertionError("no aof_tasks")

    assert ready_count() == 0
    Fleet(root, actor="human:tester").create_task("Counted", ready=True)
    assert ready_count() == 1


def test_mcp_is_served_at_mcp_with_the_same_token(server: Server) -> None:
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    assert httpx.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1}).status_code == 401

    async def main() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as c:
            created = await c.call_tool("aof_create", {"title": "Over the dashboard's MCP"})
            return created.structured_content

    created = asyncio.run(main())
    assert created["title"] == "Over the dashboard's MCP"


def test_sigterm_stops_it_promptly_with_a_stream_open(server: Server) -> None:
    opened = threading.Event()

    def listen() -> None:
        with contextlib.suppress(httpx.HTTPError, AssertionError):
            events_until(server.url, lambda e: False, act=opened.set)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert opened.wait(30)
    took = server.stop()
    reader.join(timeout=10)
    assert server.proc.returncode == 0, server.rest
    assert took < 20  # generous: the grace period is two seconds


def test_metrics_relay_the_daemons_when_it_serves_them(root: Path, server: Server) -> None:
    def families() -> set[str]:
        from prometheus_client.parser import text_string_to_metric_families

        return {
            f.name for f in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
        }

    assert "aof_tick_seconds" not in families()  # no daemon: what the files say
    daemon = subprocess.Popen(
        [sys.executable, "-m", "aof", "--root", str(root), "daemon", "--interval", "0.2",
         "--metrics-port", "0"],
        env=sub_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "aof_tick_seconds" not in families():
            time.sleep(0.2)
        assert {"aof_tick_seconds", "aof_dispatches", "aof_tasks"} <= families()
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
