"""File-change hints for the daemon (watchdog).

A hint wakes the daemon early, and names the files the next listing must stat again: while
the watcher runs, a listing skips the stat of a file it read before whose inode is unchanged
and that no hint named (:mod:`aof.store.seen`). The tick still decides from the files, never
from the events, because events can be lost, merged or reordered (inotify queue overflow,
editors that write through temp files and renames): a lost hint about an in-place edit delays
it until the next full pass (every ``scheduler.sweep_s``). With the watcher off, or when
watchdog is missing, every listing stats every file and ticks happen every interval.

Watched: ``tasks/`` (recursive), the registry directories, ``workflows/`` and ``aof.yaml``.
Ignored: editor temp files (``.x.swp``, ``x~``, ``#x#``, vim's ``4913``), aof's own temps, and
everything under ``.aof/``, ``.git/``, ``runs/`` and ``audit/``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.task import id_from_filename
from ..ops.edits import WATCHED, is_temp
from ..store.seen import SeenFiles

if TYPE_CHECKING:
    import logging

    from ..fleet import Fleet


class Watcher:
    """Collects changed paths and sets ``wake`` when one arrives."""

    def __init__(self, root: Path, wake: threading.Event) -> None:
        self.root = root
        self.wake = wake
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._observer: Any = None

    def start(self) -> str | None:
        """Start watching; return why not (watchdog missing or refused), or None."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError as exc:  # pragma: no cover - watchdog is a dependency
            return f"watchdog is not importable ({exc}); ticking on the interval only"
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                    return  # a directory's own events repeat its files'; reads change nothing
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    if raw:
                        watcher.note(raw if isinstance(raw, str) else raw.decode())

        observer = Observer()
        handler = Handler()
        try:
            observer.schedule(handler, str(self.root), recursive=False)
            for name in WATCHED:
                path = self.root / name
                if path.is_dir():
                    observer.schedule(handler, str(path), recursive=True)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # inotify limits, for example
            return f"could not watch the fleet root ({exc}); ticking on the interval only"
        self._observer = observer
        return None

    def note(self, raw: str) -> None:
        """Take a changed path (absolute): a watched one is kept and wakes the daemon."""
        try:
            rel = Path(raw).relative_to(self.root).as_posix()
        except ValueError:
            return
        top = rel.split("/", 1)[0]
        if top not in WATCHED or is_temp(Path(rel).name):
            return
        with self._lock:
            self._changed.add(rel)
        self.wake.set()

    def drain(self) -> set[str]:
        """The paths changed since the last drain (and forget them)."""
        with self._lock:
            out, self._changed = self._changed, set()
        return out

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


def task_ids(paths: set[str]) -> list[str]:
    """The task ids among changed paths, matched by file name (for the log line)."""
    return sorted({t for p in paths if (t := id_from_filename(Path(p).name)) is not None})


def watch_fleet(
    fleet: Fleet, wake: threading.Event, log: logging.Logger
) -> tuple[Watcher | None, str]:
    """A started watcher of ``fleet``'s root and "on", or None and why not (logged). While it
    runs, listings skip the stat of files it did not name (:mod:`aof.store.seen`)."""
    watcher = Watcher(fleet.root, wake)
    why_not = watcher.start()
    if why_not:
        log.warning(why_not)
        return None, why_not
    fleet.tasks.seen = SeenFiles(fleet.root, float(fleet.config.scheduler.get("sweep_s") or 60))
    return watcher, "on"
