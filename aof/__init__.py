"""aof: a filesystem-native control plane for fleets of AI coding agents.

The public API is :class:`Fleet` (the one door every change goes through), the task model
and the errors. Imports are lazy so ``import aof`` stays cheap for the CLI.

    >>> from aof import Fleet
    >>> fleet = Fleet("path/to/fleet-root", actor="human:alice")
    >>> task = fleet.create_task("Fix the login bug", priority="high", ready=True)
    >>> lease = fleet.claim(task.id, "coder-1").lease
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the CLI's start)

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "AofError",
    "ClaimConflict",
    "ConcurrentModification",
    "ConfigError",
    "DaemonRunning",
    "FixedClock",
    "Fleet",
    "GitError",
    "InvalidTransition",
    "LeaseError",
    "NotFound",
    "SeededIds",
    "State",
    "SystemClock",
    "SystemIds",
    "Task",
    "ValidationError",
]

_WHERE = {
    "Fleet": "fleet",
    "Actor": "journal.audit",
    "State": "model.task",
    "Task": "model.task",
    "FixedClock": "clock",
    "SystemClock": "clock",
    "SeededIds": "clock",
    "SystemIds": "clock",
}

if TYPE_CHECKING:
    from typing import Any

    from .clock import FixedClock, SeededIds, SystemClock, SystemIds
    from .errors import (
        AofError,
        ClaimConflict,
        ConcurrentModification,
        ConfigError,
        DaemonRunning,
        GitError,
        InvalidTransition,
        LeaseError,
        NotFound,
        ValidationError,
    )
    from .fleet import Fleet
    from .journal.audit import Actor
    from .model.task import State, Task


def __getattr__(name: str) -> Any:
    import importlib

    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    if name in __all__:
        return getattr(importlib.import_module(".errors", __name__), name)
    raise AttributeError(f"module 'aof' has no attribute {name!r}")
