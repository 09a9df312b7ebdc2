"""`aof host sync` against a real HTTP server on loopback speaking hostd's envelope."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet
from aof.errors import RemoteError

from .conftest import Cli, git_clean

TOKEN = "dev-token"


class FakeHostd:
    def __init__(self) -> None:
        self.profile: dict[str, Any] = {
            "slug": "founder-mac",
            "name": "Founder Mac",
            "address": "ignored",
            "platform": "macos",
            "status": "healthy",
            "capacity_slots": 6,
            "fleet_url": None,
            "project_count": 2,
        }
        self.projects: list[dict[str, Any]] = [
            {
                "id": "p1",
                "name": "Web App",
                "root_path": "/Users/f/web",
                "ao_project_root": "/Users/f/web",
                "default_branch": "main",
                "remote_url": None,
                "has_git": True,
                "has_ao": True,
                "enabled": True,
                "source": "scan",
                "ao_bin": None,
            },
            {
                "id": "p2",
                "name": "api",
                "root_path": "/Users/f/api",
                "ao_project_root": "/Users/f/api",
                "default_branch": "trunk",
                "remote_url": "git@x:api.git",
                "has_git": True,
                "has_ao": False,
                "enabled": True,
                "source": "scan",
                "ao_bin": None,
            },
        ]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, {"ok": False, "error": {"message": "bad token"}})
                elif self.path == "/host":
                    self._send(200, {"ok": True, "data": outer.profile})
                elif self.path == "/projects":
                    self._send(200, {"ok": True, "data": outer.projects})
                else:
                    self._send(404, {"ok": False, "error": {"message": "no route"}})

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostd() -> Iterator[FakeHostd]:
    server = FakeHostd()
    yield server
    server.close()


def test_sync_upserts_host_registers_and_places_projects(
    run: Cli, root: Path, hostd: FakeHostd
) -> None:
    run("team", "create", "--slug", "eng", "--name", "E", "--mission", "m", "--ownership", "o")
    run("project", "create", "--team", "eng", "--slug", "api", "--root-path", "/Users/f/api")
    out = run.json(
        "host",
        "sync",
        "--base-url",
        hostd.url,
        "--auth-token",
        TOKEN,
        "--register-missing",
        "--team",
        "eng",
    )
    assert (
        out["host"] == "founder-mac" and out["created"] == ["web-app"] and out["placed"] == ["api"]
    )
    host = run.json("host", "get", "founder-mac")
    assert (host["address"], host["capacity_slots"], host["platform"]) == (hostd.url, 6, "macos")
    assert run.json("project", "get", "web-app")["host"] == "founder-mac"
    assert sorted(p["project"] for p in run.json("project", "host", "list")) == ["api", "web-app"]
    assert git_clean(root)
    # The host drops a project: reported stale, unplaced only with --prune.
    hostd.projects = hostd.projects[:1]
    hostd.profile["capacity_slots"] = 8
    again = run.json("host", "sync", "--base-url", hostd.url, "--auth-token", TOKEN)
    assert again["stale"] == ["api"] and again["pruned"] == []
    assert run.json("host", "get", "founder-mac")["capacity_slots"] == 8
    pruned = run.json("host", "sync", "--base-url", hostd.url, "--auth-token", TOKEN, "--prune")
    assert pruned["pruned"] == ["api"] and "host" not in run.json("project", "get", "api")


def test_sync_errors_are_clear_and_change_nothing(run: Cli, root: Path, hostd: FakeHostd) -> None:
    before = sorted(p.name for p in root.rglob("*.md"))
    err = run("host", "sync", "--base-url", hostd.url, "--auth-token", "wrong", code=12).stderr
    assert "HTTP 401: bad token" in err
    err = run("host", "sync", "--base-url", "http://127.0.0.1:9", code=12).stderr
    assert "cannot reach hostd" in err
    assert "http:// or https://" in run("host", "sync", "--base-url", "mac.local", code=12).stderr
    assert sorted(p.name for p in root.rglob("*.md")) == before
    run("host", "sync", code=2)


def test_sync_all_goes_on_past_a_failing_host(run: Cli, hostd: FakeHostd) -> None:
    run(
        "host",
        "create",
        "--slug",
        "dead",
        "--name",
        "D",
        "--address",
        "http://127.0.0.1:9",
        "--platform",
        "linux",
    )
    run(
        "host",
        "create",
        "--slug",
        "founder-mac",
        "--name",
        "F",
        "--address",
        hostd.url,
        "--platform",
        "macos",
    )
    result = run("host", "sync", "--all", "--auth-token", TOKEN, "--json", code=1)
    data = json.loads(result.stdout)
    assert [s["host"] for s in data["synced"]] == ["founder-mac"]
    assert data["failed"][0]["address"] == "http://127.0.0.1:9"


def test_sync_hosts_library_call_goes_on_past_a_failing_host(
    fleet: Fleet, hostd: FakeHostd
) -> None:
    from aof import fleetapi

    fleet.registry.create("team", "eng", {"name": "E", "mission": "m", "ownership": "o"})
    for slug, address in (("dead", "http://127.0.0.1:9"), ("mac", hostd.url), ("lan", "mac.lan")):
        fleet.registry.create("host", slug, {"name": slug, "address": address, "platform": "linux"})
    data = fleetapi.sync_hosts(fleet, auth_token=TOKEN, register_missing=True, team="eng")
    assert [s["host"] for s in data["synced"]] == ["mac"]  # matched by its address
    assert [f["address"] for f in data["failed"]] == ["http://127.0.0.1:9"]
    assert "cannot reach hostd" in data["failed"][0]["error"]
    with pytest.raises(RemoteError, match="cannot reach hostd"):
        fleetapi.sync_hosts(fleet, "http://127.0.0.1:9")
