"""The coder adapter registry: the ``aof.coders`` entry-point group.

The built-ins (claude, codex, aider, gemini, opencode, command, demo) are registered in
aof's own ``pyproject.toml`` exactly as a third-party package registers one::

    [project.entry-points."aof.coders"]
    my-coder = "my_package.adapter:MyCoder"   # a subclass of aof.coders.adapters.base.Adapter

Adapters load on first use, so a run pays only for the coder it uses.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from ...errors import ConfigError
from .base import Adapter, Invocation, Parser

__all__ = ["Adapter", "Invocation", "Parser", "default_program", "get", "names"]

GROUP = "aof.coders"


@cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """Every registered adapter's name."""
    return sorted(_entry_points())


@cache
def get(name: str) -> Adapter:
    """The adapter registered as ``name``; ConfigError naming the known ones if none."""
    ep = _entry_points().get(name)
    if ep is None:
        raise ConfigError(
            f"coder adapter {name!r} is not registered (known: {', '.join(names())}; a "
            f"package adds one under the {GROUP!r} entry-point group)"
        )
    try:
        cls = ep.load()
    except Exception as exc:
        raise ConfigError(f"coder adapter {name!r} ({ep.value}) failed to load: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ConfigError(f"coder adapter {name!r} ({ep.value}) is not an Adapter subclass")
    return cls()


def default_program(name: str) -> str:
    """The program adapter ``name`` runs unless aof.yaml gives ``coders.<name>.program``
    ("" when it runs nothing of its own: the demo coder runs this Python, ``command`` a
    template). ConfigError when no adapter has that name.

    aof's own adapters are found by their module, without the entry-point scan: importing
    ``importlib.metadata`` alone takes ~70 ms, most of a warm ``aof plan``, and the snapshot
    the planner reads asks this for every coder in use.
    """
    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError:
            module = None
        for value in vars(module).values() if module else ():
            if isinstance(value, type) and issubclass(value, Adapter) and value.name == name:
                return value.program
    return get(name).program
