"""The machine a fleet root runs on: what ``aof doctor`` checks besides the files.

1. git is installed and at least :data:`MIN_GIT`;
2. tmux is installed and new enough when ``runner.tmux`` is on;
3. every coder that ``defaults.coder``, an agent profile, a project or an open task names is
   known, and its program is installed (on PATH, or at the path aof.yaml gives; the demo
   coder is built in). The planner does not dispatch to a coder whose program is missing;
4. the MCP server's package (``mcp``) is installed (found, not imported: importing it takes
   half a second);
5. the file system of the fleet root has :data:`DISK_WARN_BYTES` free (a warning: runs,
   worktrees and git objects grow there).

Each finding is ``(kind, path, message, warning)``; the doctor reports them like any other.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..model.task import STATES, TERMINAL

if TYPE_CHECKING:
    from ..service.context import ServiceContext

# `git init -b` (2.28: the demo coder's scratch repositories), `git worktree remove` (2.17).
MIN_GIT = (2, 28)
MCP_MODULE = "mcp"
DISK_WARN_BYTES = 1 << 30

Finding = tuple[str, str, str, bool]


def check(fleet: ServiceContext) -> list[Finding]:
    return [*_git(), *_tmux(fleet), *_coders(fleet), *_mcp(), *_disk(fleet)]


def git_version() -> tuple[int, ...] | None:
    """The installed git's version (None when git is not on PATH)."""
    try:
        out = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(p) for p in m.groups() if p is not None) if m else None


def _git() -> Iterator[Finding]:
    need = ".".join(map(str, MIN_GIT))
    found = git_version()
    if found is None:
        yield ("environment", "git", f"git is not on PATH; aof needs git {need} or newer", False)
    elif found < MIN_GIT:
        have = ".".join(map(str, found))
        yield ("environment", "git", f"git {have} is older than {need}, which aof needs", False)


def _tmux(fleet: ServiceContext) -> Iterator[Finding]:
    if not (fleet.config.data.get("runner") or {}).get("tmux"):
        return
    from ..coders.tmuxprogram import TmuxError, check_version

    try:
        check_version()
    except TmuxError as exc:
        yield ("environment", "aof.yaml", f"runner.tmux is on, but {exc}", False)


def named_coders(fleet: ServiceContext) -> dict[str, list[str]]:
    """Coder -> the files that name it: aof.yaml (``defaults.coder``), agent profiles,
    projects and open tasks."""
    named: dict[str, list[str]] = {}

    def add(coder: object, where: str) -> None:
        if coder:
            named.setdefault(str(coder), []).append(where)

    add(fleet.config.defaults.get("coder"), "aof.yaml")
    for kind, folder in (("agent", "agents"), ("project", "projects")):
        for row in fleet.registry.rows(kind):
            add(row.get("coder"), f"{folder}/{row['slug']}.md")
    for row in fleet.list_tasks(states=[s for s in STATES if s not in TERMINAL]):
        add(row.get("coder"), str(row["path"]))
    return named


def _coders(fleet: ServiceContext) -> Iterator[Finding]:
    from ..coders.resolve import unavailable

    for coder, places in sorted(named_coders(fleet).items()):
        problem = unavailable(coder, fleet.config.data)
        if problem:
            more = f" and {len(places) - 3} more" if len(places) > 3 else ""
            yield ("coder", ", ".join(places[:3]) + more, problem, False)


def _mcp() -> Iterator[Finding]:
    try:
        found = importlib.util.find_spec(MCP_MODULE) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        yield (
            "environment",
            MCP_MODULE,
            f"the MCP server's package `{MCP_MODULE}` is not installed: `aof mcp serve` cannot "
            "start (reinstall aof with its dependencies)",
            False,
        )


def _disk(fleet: ServiceContext) -> Iterator[Finding]:
    free = shutil.disk_usage(fleet.root).free
    if free < DISK_WARN_BYTES:
        yield (
            "disk",
            ".",
            f"only {_size(free)} free on the fleet root's file system (under "
            f"{_size(DISK_WARN_BYTES)}): run logs, worktrees and git need room",
            True,
        )


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"
