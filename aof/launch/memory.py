"""What the command server holds between calls: the open tasks of the fleet roots it served.

A listing stats every task file it shows, because a person may have edited one in place; at
10,000 open tasks that and loading their summaries is most of a ``task list``. The server
instead watches each fleet root it served (``tasks/`` and its open state directories, with
inotify) and lists their tasks itself after each call and in each quiet second, into a
:class:`aof.store.seen.SeenFiles` memo: a file is taken as it was read while its inode is
unchanged and no event named it.

Right before it forks a call's child, the server takes every event queued (the kernel queues
one in the very system call that changes a file, so every change made before the call began
is among them) and forgets what they name; the child's stores of that root start with what
is left, and with the server's caches of it (:attr:`aof.store.tasks.TaskStore.held`). A queue
overflow forgets everything; a watched directory removed, moved or replaced, or a change to
``tasks/`` itself, forgets the root; and everything is listed afresh at least every
:data:`VERIFY_S` seconds, as the daemon's watcher does. What inotify cannot see: a change made
through another hard link of a task file, or by another machine on a network share; such a
change shows within that bound.

Which root a call used is worked out from its ``--root``, ``AOF_ROOT`` and working directory
as the CLI does; a call whose root it gets wrong only finds nothing held. At most
:data:`MAX_ROOTS` roots are held, the least recently served dropped first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AofError
from ..files.inotify import CHANGES, IN_Q_OVERFLOW, LOST, Inotify
from ..model.config import find_root
from ..model.task import ACTIVE
from ..store.seen import SeenFiles
from ..store.tasks import TaskStore

MAX_ROOTS = 4
VERIFY_S = 60.0
TASKS = "tasks"  # the watch on tasks/ itself: any change there forgets the root


class Held:
    """One watched fleet root: its store and that store's memo (``seen``), its watches
    (descriptor -> the directory's path in the root: ``tasks`` or ``tasks/<state>``) and the
    open states they cover."""

    def __init__(self, store: TaskStore, seen: SeenFiles, watches: dict[int, str]) -> None:
        self.store, self.seen, self.watches = store, seen, watches
        self.states = [s for s in ACTIVE if f"{TASKS}/{s.value}" in watches.values()]


class Memory:
    """The fleet roots the server holds (see the module docstring)."""

    def __init__(self, note: Callable[[str], None] = lambda _text: None) -> None:
        self.note = note  # a line for the server's log
        self.inotify = Inotify.open()
        self.roots: dict[Path, Held] = {}  # least recently served first
        self.by_wd: dict[int, tuple[Path, str]] = {}

    def close_in_child(self) -> None:
        """A forked child keeps what is held, not the watches."""
        if self.inotify is not None:
            self.inotify.close()
            self.inotify = None

    def take_events(self) -> None:
        """Forget what every queued event names (before each fork)."""
        if self.inotify is None:
            return
        for event in self.inotify.read():
            if event.mask & IN_Q_OVERFLOW:
                for held in self.roots.values():
                    held.seen.forget()
                self.note("inotify's queue overflowed: every root is read afresh")
                continue
            where = self.by_wd.get(event.wd)
            if where is None:
                continue  # a watch already dropped
            root, rel = where
            if event.mask & LOST or rel == TASKS:
                self.drop(root, f"{rel}/{event.name}".rstrip("/") + " changed")
            elif event.name:
                self.roots[root].seen.changed([f"{rel}/{event.name}"])

    def after_call(self, request: dict[str, Any]) -> None:
        """Hold the root of a call that ended, listing its open tasks now so that the next
        call finds them read. Never raises: holding is only ever a saving."""
        if self.inotify is None:
            return
        root = root_of(request)
        if root is None:
            return
        held = self.roots.pop(root, None)
        if held is None:
            held = self._watch(root)
            if held is None:
                return
            self.note(f"holding {root}")
        self.roots[root] = held
        while len(self.roots) > MAX_ROOTS:
            self.drop(next(iter(self.roots)), "served least recently")
        self.take_events()
        self._list(root)

    def refresh(self) -> None:
        """Read again what changed in the roots held (and everything, once a minute), while
        no call waits: the server calls this when it has been idle for a second."""
        self.take_events()
        for root in list(self.roots):
            self._list(root)

    def _list(self, root: Path) -> None:
        held = self.roots.get(root)
        if held is None:
            return  # an event just now forgot it: held again after the next call
        try:
            held.store.summaries(held.states)
        except Exception as exc:  # what fails here fails in the call too, and is said there
            self.drop(root, f"listing failed: {type(exc).__name__}")

    def _watch(self, root: Path) -> Held | None:
        assert self.inotify is not None
        watches: dict[int, str] = {}
        try:
            for rel in (TASKS, *(f"{TASKS}/{s.value}" for s in ACTIVE)):
                path = root / rel
                if os.path.isdir(path) and not os.path.islink(path):
                    watches[self.inotify.watch(str(path), CHANGES)] = rel
        except OSError:  # the per-user limit of watches, or a directory gone meanwhile
            for wd in watches:
                self.inotify.unwatch(wd)
            return None
        if TASKS not in watches.values():
            for wd in watches:
                self.inotify.unwatch(wd)
            return None
        seen = SeenFiles(root, VERIFY_S)
        store = TaskStore(root)
        store.seen = seen
        TaskStore.held[root] = store
        for wd, rel in watches.items():
            self.by_wd[wd] = (root, rel)
        return Held(store, seen, watches)

    def drop(self, root: Path, why: str) -> None:
        """Forget ``root``: its memo, and its watches."""
        held = self.roots.pop(root, None)
        TaskStore.held.pop(root, None)
        if held is None:
            return
        self.note(f"forgot {root}: {why}")
        for wd in held.watches:
            self.by_wd.pop(wd, None)
            if self.inotify is not None:
                with contextlib.suppress(OSError):
                    self.inotify.unwatch(wd)


def root_of(request: dict[str, Any]) -> Path | None:
    """The fleet root a call used, found as the CLI finds it (None when it has none)."""
    argv = list(request.get("argv") or [])[1:]
    explicit = None
    for i, word in enumerate(argv):
        if word == "--root" and i + 1 < len(argv):
            explicit = argv[i + 1]
            break
        if word.startswith("--root="):
            explicit = word[len("--root=") :]
            break
        if not word.startswith("-"):
            break  # the command's own words: --root is an option of the group
    env = request.get("env") or {}
    try:
        cwd = Path(request["cwd"])
        named = env.get("AOF_ROOT")
        return find_root(
            cwd / os.path.expanduser(explicit) if explicit else None,
            str(cwd / os.path.expanduser(named)) if named else None,
            cwd,
        )
    except (AofError, OSError, KeyError, TypeError):
        return None
