"""What the notification tests share: a real HTTP server on 127.0.0.1 that takes Apprise's
``json://`` posts, a way to give a fleet root a ``notify:`` section, and a task asking a
question (the ``asked`` event) through the public API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aof import Fleet

from .conftest import git


class Hook:
    """An HTTP server that records every POST (path, JSON body) and answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                with hook.lock:
                    hook.posts.append((self.path, json.loads(raw or b"{}")))
                    status = hook.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def messages(self) -> list[str]:
        with self.lock:
            return [str(body.get("message", "")) for _, body in self.posts]

    def count(self) -> int:
        with self.lock:
            return len(self.posts)


@contextmanager
def hook_server() -> Iterator[Hook]:
    hook = Hook()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_notify(root: Path, section: str, *, commit: bool = True) -> None:
    """Append ``section`` (YAML, starting ``notify:``) to aof.yaml, replacing one there."""
    path = root / "aof.yaml"
    text = path.read_text(encoding="utf-8").split("\nnotify:\n")[0].rstrip("\n") + "\n"
    path.write_text(text + section.strip("\n") + "\n", encoding="utf-8")
    if commit:
        git(
            root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "notify", "aof.yaml"
        )


def ask(
    fleet: Fleet, title: str = "Fix the login bug", question: str = "which way?", **kw: Any
) -> str:
    """A ready task claimed and blocked on ``question``: one ``asked`` event. Its id."""
    task = fleet.create_task(title, ready=True, **kw)
    token = fleet.claim(task.id, "coder-1").lease["token"]  # type: ignore[index]
    fleet.block(task.id, question=question, token=token)
    return task.id


def outbox_lines(root: Path) -> list[dict[str, Any]]:
    path = root / ".aof" / "notify" / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
