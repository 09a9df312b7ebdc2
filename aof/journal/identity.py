"""Who the person at this machine is: one answer for the CLI, MCP over stdio and hand edits.

A person is ``human:<name>``, where the name is, in this order:

1. ``AOF_ACTOR``, when it names a person (``human:ada`` or a bare ``ada``);
2. git's ``user.name`` as the fleet root's git sees it (repository, then global config);
3. the login name (:func:`getpass.getuser`).

Names from git or the login are lower-cased, runs of spaces become one ``-``, and any other
character outside the actor id charset (letters, digits, ``. _ @ + -``) becomes ``-``:
``Ada Lovelace`` is ``human:ada-lovelace``. This is the one place that reads ``AOF_ACTOR``
for a person; an ``AOF_ACTOR`` of another kind (``agent:coder-1``) is an explicit actor the
front ends pass on as it is, never a person's name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from .audit import Actor

UNKNOWN = "unknown"


def sanitize(name: str) -> str:
    """``name`` as an actor id: lower case, spaces to ``-``, other odd characters to ``-``."""
    text = "-".join(name.strip().lower().split())
    text = re.sub(r"[^a-z0-9._@+-]", "-", text).lstrip(".-_@+")
    return text[:64].rstrip(".-_@+") or UNKNOWN


def git_user_name(root: Path | None) -> str:
    """git's ``user.name`` in ``root`` (the current directory when None); "" when unset."""
    from .git import run

    try:
        where = root if root is not None and root.is_dir() else Path.cwd()
        proc = run(where, "config", "user.name")
    except OSError:
        return ""
    return proc.stdout.strip()


def login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return ""


def human(root: Path | None, environ: Mapping[str, str] | None = None) -> Actor:
    """The person: ``AOF_ACTOR`` (a person), else git's user.name of ``root``, else the login.

    ``environ`` defaults to the process environment. ValidationError when ``AOF_ACTOR`` is
    set to something that is not an actor at all.
    """
    env = os.environ if environ is None else environ
    given = (env.get("AOF_ACTOR") or "").strip()
    if given:
        actor = Actor.parse(given)
        if actor.kind == "human":
            return actor
    for name in (git_user_name(root), login_name()):
        if name.strip():
            return Actor("human", sanitize(name))
    return Actor("human", UNKNOWN)


__all__ = ["git_user_name", "human", "login_name", "sanitize"]
