"""The task store: ``tasks/<state>/<id>-<slug>.md`` files, found, listed, locked and moved.

Everything here is about files; the rules (who may move what where) live in :mod:`aof.fleet`.
Listing never crashes on a bad file: it returns the problem (``file:line: message``) next to
the tasks it could read. Summaries are cached per directory under
``.aof/cache/tasks-<state>[-YYYY-MM].bin`` keyed on each file's (inode, size, mtime_ns)
(:mod:`aof.files.stampcache`), so a listing parses only files that changed since the last one,
and a listing of the open states never loads the summaries of two years of finished work.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .. import layout
from ..errors import AmbiguousId, NotFound, ValidationError
from ..files import cache as derived
from ..files import cardfile
from ..files.locks import Lock, lock_for
from ..files.safefs import NOT_REGULAR, check_no_link
from ..files.stampcache import Listing, StampCache, fs_now_ns, settled
from ..model.task import STATES, State, Task, check_ref, id_from_filename, ids_in_names
from .summary import check_card, invalid_row, name_problem, summarize

if TYPE_CHECKING:
    from .seen import Memo, SeenFiles

CACHE_VERSION = 11
IDS_VERSION = 4
FEW_IDS = 32  # states_of: up to this many ids, no id set is built
# Task locks are striped over this many files: creating a lock file per task costs 0.6 ms on
# a journaling filesystem, opening an existing one 6 us. aof never holds two task locks at once.
LOCK_STRIPES = 256


class Located(NamedTuple):
    """Where a task file is: its id, state and path (no parsing involved)."""

    id: str
    state: State
    path: Path


def _entries(directory: Path, ordered: bool = True) -> list[os.DirEntry[str]]:
    """The ``*.md`` entries of one directory, sorted by name unless not ``ordered`` ([] when
    it is not there)."""
    try:
        with os.scandir(directory) as it:
            entries = [e for e in it if e.name.endswith(".md") and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    if ordered:
        entries.sort(key=lambda e: e.name)
    return entries


def _is_dir(path: Path) -> bool:
    """A directory, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


class TaskStore:
    """Files of one fleet root's ``tasks/`` tree."""

    # The stores of a long-lived parent process (the command server) by fleet root: a store
    # made for one of them in its forked child starts with what that one read.
    held: ClassVar[dict[Path, TaskStore]] = {}

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = layout.tasks(root)
        # Summaries by file name, one cache per directory (:meth:`_summary_cache`).
        self._caches: dict[str, StampCache] = {}
        # id -> file name. A task keeps its file name in every state, so a known id is found
        # with at most one stat per state directory instead of a directory listing.
        self._names: dict[str, str] = {}
        # In-process memo of the ids of each state directory, so a long-lived process (the
        # daemon) lists one only when it changed: key -> (stamp, settled, blob, months).
        self._ids: dict[str, tuple[Any, ...]] = {}
        self._sets: dict[str, tuple[str, list[str], frozenset[str]]] = {}  # key -> from blob
        # Set by a process that hears of in-place edits (the daemon's watcher, the command
        # server's): listings then skip the stat of files read before (:mod:`aof.store.seen`).
        self.seen: SeenFiles | None = None
        parent = TaskStore.held.get(root)
        if parent is not None:  # each memo is checked on use (a stamp, or seen's reports)
            for name in ("_caches", "_names", "_ids", "_sets"):
                getattr(self, name).update(getattr(parent, name))
            self.seen = parent.seen

    def state_dir(self, state: State) -> Path:
        return self.dir / state.value

    def dirs(self, state: State) -> list[Path]:
        """The directories that hold ``state``'s tasks: ``tasks/<state>/``, and for done and
        cancelled each ``YYYY-MM/`` shard in it, newest first (a flat legacy terminal
        directory is still read until ``aof doctor --fix`` moves it into its shards)."""
        top = self.state_dir(state)
        if state.value not in layout.SHARDED:
            return [top]
        months = self._dir_info(top)[2]
        return [top, *(top / m for m in sorted(months, reverse=True))]

    def dest_dir(self, state: State, when: datetime) -> Path:
        """Where a task entering ``state`` at ``when`` goes (a month's shard when terminal),
        made if missing; ValidationError when a symlink is on the way (never written through)."""
        directory = layout.task_dir(self.root, state.value, when)
        check_no_link(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def lock(self, task_id: str) -> Lock:
        """The lock for read-modify-write of one task (striped; see LOCK_STRIPES)."""
        import zlib

        stripe = zlib.crc32(task_id.encode()) % LOCK_STRIPES
        return lock_for(layout.lock(self.root, f"task-{stripe:03d}.lock"))

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def rel_of(self, state: State, entry: os.DirEntry[str]) -> str:
        """``tasks/<state>/[YYYY-MM/]<file>`` of an entry :meth:`scan` found."""
        parent = os.path.basename(os.path.dirname(entry.path))
        if parent == state.value:
            return f"tasks/{state.value}/{entry.name}"
        return f"tasks/{state.value}/{parent}/{entry.name}"

    # --- finding --------------------------------------------------------------------------

    def scan(
        self, states: Iterable[State] = STATES, ordered: bool = True
    ) -> Iterator[tuple[State, os.DirEntry[str]]]:
        """Task-file directory entries, state by state, sorted by name unless not ``ordered``
        (no parsing, no stat)."""
        for state, directory in self._all_dirs(states):
            for entry in _entries(directory, ordered):
                yield state, entry

    def classify(
        self, state: State, entry: os.DirEntry[str], rel: str | None = None
    ) -> tuple[str, str | None, str | None]:
        """(path relative to the root, task id, problem) of one entry of a state directory
        (``rel``: that path, when the caller knows it).

        The problem is set, and the id None, for files aof will not read as tasks: names that
        are not ``t-<id>-<slug>.md``, symlinks (never followed out of the root), and FIFOs,
        devices or directories (never opened: a FIFO would block the reader forever).
        """
        rel = rel or self.rel_of(state, entry)
        tid = id_from_filename(entry.name)
        if tid is None:
            return rel, None, name_problem(rel, state)
        if entry.is_symlink():
            return rel, None, f"{rel}:1: (file): is a symlink; aof does not follow links in tasks/"
        if not entry.is_file(follow_symlinks=False):
            return rel, None, f"{rel}:1: (file): {NOT_REGULAR}"
        return rel, tid, None

    def locate(self, ref: str, prefer: Iterable[State] = (), learn: bool = True) -> Located:
        """Find the task whose id is ``ref`` or starts with it; NotFound / AmbiguousId otherwise.

        Only file names are read (no stat, no YAML), and only in the directories whose id
        cache holds an id starting with ``ref``. ``prefer`` lists the states to look in
        first: an exact id found there is returned at once.
        """
        prefix = check_ref(ref)
        order = [*prefer, *(s for s in STATES if s not in set(prefer))]
        for attempt in (1, 2):
            known = self._names.get(prefix)
            if known is not None:
                for state in order:
                    for directory in self.dirs(state):
                        path = directory / known
                        if os.path.isfile(path) and not os.path.islink(path):
                            return Located(prefix, state, path)
            if attempt == 1 and learn and len(prefix) >= 6 and self._names:
                self._learn_names(prefix)  # an id this process has not seen: list where it is
        hits: dict[str, Located] = {}
        for state, directory in self._all_dirs(order):
            if not self._has(directory, prefix):
                continue  # the id caches say no: this directory is not listed
            try:
                names = [n for n in os.listdir(directory) if n.startswith(prefix)]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in sorted(names):
                tid = id_from_filename(name)
                if tid is None or not tid.startswith(prefix):
                    continue
                path = directory / name
                if path.is_symlink():
                    continue
                self._names[tid] = name
                if tid == prefix:
                    return Located(tid, state, path)
                hits.setdefault(tid, Located(tid, state, path))
        if not hits:
            raise NotFound(f"no task with id {prefix!r}")
        if len(hits) > 1:
            shown = ", ".join(sorted(hits)[:5])
            raise AmbiguousId(f"task id {prefix!r} is ambiguous: it matches {shown}")
        return next(iter(hits.values()))

    def remember(self, task_id: str, name: str) -> None:
        """Note that task ``task_id``'s file is now called ``name`` (a task just created or
        renamed by this process), so locating it needs no listing."""
        self._names[task_id] = name

    def _all_dirs(self, states: Iterable[State]) -> Iterator[tuple[State, Path]]:
        """Each directory of each of ``states`` (symlinked state directories skipped)."""
        for state in states:
            if os.path.islink(self.state_dir(state)):
                continue
            for directory in self.dirs(state):
                yield state, directory

    def _learn_names(self, prefix: str) -> None:
        """Remember the file name of every task in the directories that hold an id starting
        with ``prefix`` (by their id caches), one listing each."""
        for _state, directory in self._all_dirs(STATES):
            if not self._has(directory, prefix):
                continue
            try:
                names = os.listdir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                tid = id_from_filename(name)
                if tid is not None:
                    self._names[tid] = name

    def relocate(self, loc: Located) -> Located:
        """``loc`` if the file is still there, else wherever the task is now (NotFound if gone)."""
        if os.path.lexists(loc.path):
            return loc
        return self.locate(loc.id)

    def exists(self, task_id: str) -> bool:
        """Whether a task with this id (or one that starts with it) is on disk: the id caches
        of every directory (a stat each; a directory that changed is listed again)."""
        return any(self._has(d, task_id) for _state, d in self._all_dirs(STATES))

    def _dir_ids(self, state: State) -> tuple[list[str], frozenset[str]]:
        """The task ids of one state (all its directories), each listed again only when it
        changed (:meth:`_dir_info`)."""
        if state.value not in layout.SHARDED:
            info = self._dir_info(self.state_dir(state))
            return info[0], info[1]
        ids: list[str] = []
        members: set[str] = set()
        for directory in self.dirs(state):
            info = self._dir_info(directory)
            ids.extend(info[0])
            members.update(info[1])
        return ids, frozenset(members)

    def _dir_info(self, directory: Path) -> tuple[list[str], frozenset[str], list[str]]:
        """(task ids, id set, month shards) of one directory of ``tasks/`` (see
        :meth:`_dir_blob`; the list and the set are made from it once per stamp)."""
        blob, months = self._dir_blob(directory)
        key = "-".join(directory.relative_to(self.dir).parts)
        made = self._sets.get(key)
        if made is None or made[0] is not blob:
            ids = blob.strip(",").split(",") if len(blob) > 2 else []
            made = self._sets[key] = (blob, ids, frozenset(ids))
        return made[1], made[2], months

    def _has(self, directory: Path, task_id: str) -> bool:
        """Does ``directory`` hold a file of ``task_id``, or of an id that starts with it (a
        new id must not make an existing one ambiguous)? A substring test: no set is made."""
        return f",{task_id}" in self._dir_blob(directory)[0]

    def _dir_blob(self, directory: Path) -> tuple[str, list[str]]:
        """(``",id,id,...,"``, month shards) of one directory of ``tasks/``.

        Keyed on the directory's (inode, mtime): the ids of every directory are kept in
        ``.aof/cache/ids-<state>[-YYYY-MM].json`` (and in memory) as one comma-joined string,
        which loads in one JSON token and answers "is this id here" with a substring test,
        so neither a scheduler tick nor a create's id check grows with the number of finished
        tasks. An entry is trusted only when the directory was last changed ``RACY_NS``
        before it was listed, by the file system's clock
        (:func:`aof.files.stampcache.settled`). Derived; rebuilt at will.
        """
        try:
            st = os.stat(directory)
        except (FileNotFoundError, NotADirectoryError):
            return ",", []
        if os.path.islink(directory):
            return ",", []  # never followed out of the root (doctor reports it)
        stamp = (st.st_ino, st.st_mtime_ns)
        key = "-".join(directory.relative_to(self.dir).parts)
        mem = self._ids.get(key)
        if mem is None:
            data = derived.read(layout.cache(self.root, f"ids-{key}.json"))
            if isinstance(data, dict) and data.get("v") == IDS_VERSION:
                mem = (tuple(data["stamp"]), True, str(data["ids"]), data.get("months") or [])
        if mem is not None and mem[0] == stamp and mem[1]:
            self._ids[key] = mem
            return mem[2], mem[3]
        now = fs_now_ns(self.root)
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return ",", []
        ids = ids_in_names(names)
        months = [n for n in names if len(n) == 7 and layout.is_month(n) and _is_dir(directory / n)]
        safe = settled(st.st_mtime_ns, now)
        blob = "," + ",".join(ids) + ("," if ids else "")
        self._ids[key] = (stamp, safe, blob, months)
        if safe:
            record = {"v": IDS_VERSION, "stamp": list(stamp), "ids": blob, "months": months}
            derived.write(layout.cache(self.root, f"ids-{key}.json"), record)
        return blob, months

    def states_of(self, ids: Iterable[str]) -> dict[str, State]:
        """The state of each of ``ids`` that exists (cost: the ids asked for, not the tree:
        a few ids are looked for in each directory's id string, many through id sets)."""
        wanted = list(ids)
        out: dict[str, State] = {}
        if len(wanted) <= FEW_IDS:
            dirs = list(self._all_dirs(STATES))
            for tid in wanted:
                needle = f",{tid},"
                for state, directory in dirs:
                    if needle in self._dir_blob(directory)[0]:
                        out[tid] = state
                        break
            return out
        sets = [(state, self._dir_ids(state)[1]) for state in STATES]
        for tid in wanted:
            for state, members in sets:
                if tid in members:
                    out[tid] = state
                    break
        return out

    def count(self, state: State) -> int:
        """How many task files ``state`` holds (from the id caches: a stat per directory,
        and no id list or set is made)."""
        return sum(self._dir_blob(d)[0].count(",") - 1 for _s, d in self._all_dirs([state]))

    def copies(self, task_id: str) -> list[State]:
        """Every state directory that holds a file of ``task_id`` (two or more: a duplicate)."""
        return [state for state in STATES if task_id in self._dir_ids(state)[1]]

    def read(self, loc: Located) -> Task:
        """Read the task at ``loc``; NotFound if it moved away since it was located."""
        try:
            card = cardfile.read(loc.path)
        except FileNotFoundError:
            raise NotFound(f"task {loc.id} moved while it was being read; try again") from None
        return Task(id=loc.id, state=loc.state, path=loc.path, card=card)

    def load(self, ref: str, prefer: Iterable[State] = ()) -> Task:
        """Read the task ``ref`` (see :meth:`locate` for ``prefer``: the states it is looked
        for in first, whose directories alone are listed when it is there)."""
        return self.read(self.locate(ref, prefer))

    # --- listing --------------------------------------------------------------------------

    def summaries(
        self, states: Iterable[State] = STATES, invalid: list[dict[str, Any]] | None = None
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Summaries of every readable task in ``states`` (in directory order: callers sort)
        and the problems met on the way (sorted).

        With ``invalid``, each file that is not a valid task is also added to it as a row
        (:func:`invalid_row`), so a listing can show it where it is.
        """
        out: list[dict[str, Any]] = []
        problems: list[str] = []
        for state, directory in self._all_dirs(states):
            value = state.value  # once per directory: an enum's .value is a property
            key = self._key(directory)
            watched = self.seen
            seen, reports = watched.memo(key) if watched is not None else ({}, 0)
            stamp = watched.stamp(directory) if watched is not None else None
            if watched is not None and stamp is not None:
                rows = watched.rows(key, stamp)
                if rows is not None:  # nothing came, went or was reported since it was listed
                    out.extend(rows)
                    continue
            listing = self._summary_cache(directory).listing()
            where = directory.relative_to(self.root).as_posix() + "/"
            read: Memo = {}
            mark = len(out), len(problems)
            for entry in _entries(directory, ordered=False):  # the caller orders the rows
                name = entry.name
                hit = seen.get(name)
                if hit is not None and hit[0] == entry.inode():
                    out.append(hit[1])  # read before, unchanged since (aof.store.seen)
                    read[name] = hit
                    if name in listing.old:
                        listing.fresh[name] = listing.old[name]
                    continue
                cached = listing.old.get(name)
                summary = None
                if cached is not None and "error" not in cached[3]:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # moved while listing: it shows in its new state or next time
                    if (  # the task file parsed before, unchanged (its stamp_of is the same)
                        cached[2] == st.st_mtime_ns
                        and cached[0] == st.st_ino
                        and cached[1] == st.st_size
                    ):
                        listing.fresh[name] = cached
                        summary = cached[3]
                if summary is None:
                    summary = self._read_entry(state, entry, where, listing, problems, invalid)
                    if summary is None:
                        continue
                # The row is the cached summary itself, given its place: no second dict.
                summary["state"] = value
                summary["path"] = where + name
                out.append(summary)
                if watched is not None:
                    read[name] = (entry.inode(), summary)
            listing.finish()
            if watched is not None:  # whole only if every file in it was a task
                whole = (stamp, out[mark[0] :]) if len(problems) == mark[1] else None
                watched.keep(key, read, reports, whole)
        problems.sort()  # rows come in directory order (callers order them); problems sorted
        if invalid is not None:
            invalid.sort(key=lambda r: str(r.get("path")))
        return out, problems

    def _key(self, directory: Path) -> str:
        """A directory's key among the caches: ``ready``, ``done-2026-11``."""
        return "-".join(directory.relative_to(self.dir).parts)

    def _read_entry(
        self,
        state: State,
        entry: os.DirEntry[str],
        where: str,
        listing: Listing,
        problems: list[str],
        invalid: list[dict[str, Any]] | None,
    ) -> dict[str, Any] | None:
        """The summary of one entry the cache did not have as it is now (parsed, or its
        problem added to ``problems`` and ``invalid``: then None)."""
        rel, tid, problem = self.classify(state, entry, where + entry.name)
        if problem is not None or tid is None:
            problems.append(str(problem))
            if invalid is not None:
                invalid.append(invalid_row(state, rel, tid, str(problem)))
            return None
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # moved while listing: it shows up in its new state or next time
        summary = listing.get(entry.name, st, partial(self._summarize_file, entry.path, rel, tid))
        if summary is not None and "error" in summary:
            problems.append(summary["error"])
            if invalid is not None:
                invalid.append(invalid_row(state, rel, tid, summary["error"]))
            return None
        return summary

    def _summary_cache(self, directory: Path) -> StampCache:
        """The summary cache of one directory of ``tasks/`` (``tasks-done-2026-11.bin``)."""
        key = self._key(directory)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = StampCache(self.root, f"tasks-{key}.bin", CACHE_VERSION)
        return cache

    def read_checked(self, path: Path, rel: str, tid: str) -> cardfile.Card:
        """Read a task file and check it (schema, and the id against the file name).

        ValidationError names the file (``rel``), line and field; FileNotFoundError if gone.
        """
        try:
            card = cardfile.read(path)
        except ValidationError as exc:
            raise ValidationError(str(exc).replace(str(path), rel, 1)) from None
        check_card(card, rel, tid)
        return card

    def _summarize_file(self, path: str, rel: str, tid: str) -> dict[str, Any] | None:
        try:
            card = self.read_checked(Path(path), rel, tid)
        except FileNotFoundError:
            return None
        except ValidationError as exc:
            return {"error": str(exc)}
        return summarize(card.meta)
