"""Live events for open pages: what changed on disk, pushed over server-sent events.

One watcher per server (watchdog: inotify on Linux, so an idle server costs nothing) looks at
``tasks/`` and ``audit/``. A task file written or moved becomes a ``task`` event
``{"kind": "task", "id", "state", "path"}`` (``state`` null when the file is gone); a line
appended to the audit trail becomes an ``audit`` event ``{"kind": "audit", "event" (the
action), "task", "actor", "ts", "from", "to"}``. Changes made through aof and by hand show up
alike, since both are changes to the files.

Changes are gathered for :attr:`Hub.settle_s` and sent once (an editor's save is several
writes; a daemon tick moves many files): one event per task per batch, never a flood and
never a "reload everything". A stream that falls behind by :data:`BACKLOG` events is sent a
``reset`` event instead, which tells the page to fetch itself again.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..model.task import id_from_filename

BACKLOG = 500
PING_S = 20.0


class Hub:
    """The server's one watcher, and the queues of the streams open on it."""

    def __init__(self, root: Path, *, settle_s: float = 0.15) -> None:
        self.root = root
        self.settle_s = settle_s
        self.streams: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Any = None
        self._changed: set[str] = set()
        self._lock = threading.Lock()
        self._flush_due = False
        self._audit_sizes: dict[Path, int] = {}

    # -- the watcher (its own thread) --------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self._loop = loop
        for day in sorted((self.root / "audit").glob("*/*/*.jsonl"))[-2:]:
            self._audit_sizes[day] = day.stat().st_size  # only what is appended from now
        hub = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                    return
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    if raw:
                        hub._note(raw if isinstance(raw, str) else raw.decode())

        observer = Observer()
        for name in ("tasks", "audit"):
            path = self.root / name
            path.mkdir(exist_ok=True)
            observer.schedule(Handler(), str(path), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _note(self, path: str) -> None:
        name = path.rsplit("/", 1)[-1]
        if name.startswith(".") or name.endswith("~"):
            return  # aof's and editors' temporary files
        with self._lock:
            self._changed.add(path)
            if self._flush_due or self._loop is None:
                return
            self._flush_due = True
        self._loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self.settle_s, self._flush)

    # -- on the event loop ---------------------------------------------------------------

    def _flush(self) -> None:
        with self._lock:
            changed, self._changed, self._flush_due = self._changed, set(), False
        for kind, data in self.events_for(sorted(changed)):
            self.publish(kind, data)

    def events_for(self, paths: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """The events a batch of changed paths makes: one per task, then the audit lines."""
        tasks: dict[str, dict[str, Any]] = {}
        audits: list[tuple[str, dict[str, Any]]] = []
        for raw in paths:
            path = Path(raw)
            try:
                rel = path.relative_to(self.root)
            except ValueError:
                continue
            if rel.parts[0] == "tasks" and rel.suffix == ".md":
                task_id = id_from_filename(path.name)
                if task_id is None:
                    continue
                here = path.exists()
                if here or task_id not in tasks:  # where it is now beats where it was
                    tasks[task_id] = {
                        "kind": "task",
                        "id": task_id,
                        "state": rel.parts[1] if here and len(rel.parts) > 2 else None,
                        "path": str(rel) if here else None,
                    }
            elif rel.parts[0] == "audit" and rel.suffix == ".jsonl":
                audits.extend(("audit", rec) for rec in self._new_audit_lines(path))
        return [("task", data) for data in tasks.values()] + audits

    def _new_audit_lines(self, path: Path) -> list[dict[str, Any]]:
        start = self._audit_sizes.get(path, 0)
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                chunk = fh.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next batch
        self._audit_sizes[path] = start + end
        out = []
        for line in chunk[:end].splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(_audit_event(rec))
        return out

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for queue in list(self.streams):
            if queue.qsize() >= BACKLOG:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(("reset", {"kind": "reset"}))
            else:
                queue.put_nowait((kind, data))

    async def stream(self) -> AsyncIterator[dict[str, str]]:
        """One page's events, as sse-starlette messages, until it goes away."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.streams.add(queue)
        try:
            yield {"event": "hello", "data": json.dumps({"kind": "hello"})}
            while True:
                kind, data = await queue.get()
                yield {"event": kind, "data": json.dumps(data, ensure_ascii=False)}
        finally:
            self.streams.discard(queue)


def _audit_event(rec: dict[str, Any]) -> dict[str, Any]:
    entity = rec.get("entity") or {}
    actor = rec.get("actor") or {}
    who = f"{actor.get('kind')}:{actor.get('id')}" if isinstance(actor, dict) else str(actor)
    return {
        "kind": "audit",
        "event": rec.get("action"),
        "entity": entity.get("kind"),
        "task": entity.get("id") if entity.get("kind") == "task" else None,
        "id": entity.get("id"),
        "actor": who,
        "ts": rec.get("ts"),
        "from": rec.get("from"),
        "to": rec.get("to"),
    }
