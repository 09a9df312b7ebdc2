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
from typing import Any

from .audit import Actor

UNKNOWN = "unknown"


def sanitize(name: str) -> str:
    """``name`` as an actor id: lower case, spaces to ``-``, other odd characters to ``-``."""
    text = "-".join(name.strip().lower().split())
    text = re.sub(r"[^a-z0-9._@+-]", "-", text).lstrip(".-_@+")
    return text[:64].rstrip(".-_@+") or UNKNOWN


def git_user_name(root: Path | None) -> str:
    """git's ``user.name`` in ``root`` (the current directory when None); "" when unset.

    In a fleet root the answer is kept in ``.aof/cache/git-user.json`` with the identity
    (inode, size, mtime) of every config file git reads for it and the environment variables
    that change where git looks; a call whose files and variables are unchanged reads it
    there instead of starting git. A config file that includes others is never cached (an
    included file could change unseen)."""
    where = root if root is not None and root.is_dir() else Path.cwd()
    key = _config_key(where) if (where / ".aof").is_dir() else None
    cache = where / ".aof" / "cache" / "git-user.json"
    if key is not None:
        import json

        try:
            kept = json.loads(cache.read_text(encoding="utf-8"))
            if kept.get("key") == key:
                return str(kept["name"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    from .git import run

    try:
        proc = run(where, "config", "user.name")
    except OSError:
        return ""
    name = proc.stdout.strip()
    if key is not None:
        import contextlib

        from ..files.atomic import write_json

        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, {"key": key, "name": name})
    return name


# What changes which config files git reads, or adds settings beside them.
_GIT_ENV = (
    "HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG", "GIT_DIR", "GIT_CEILING_DIRECTORIES",
)  # fmt: skip


def _config_key(where: Path) -> list[Any] | None:
    """The identity of what ``git config user.name`` reads in ``where``; None when it cannot
    be known cheaply (not the top of a plain repository, or a file that includes others)."""
    env = os.environ
    if not (where / ".git").is_dir():
        return None  # a worktree, a submodule or no repository: let git find its config
    home = Path(env.get("HOME") or "~").expanduser()
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    files = [where / ".git" / "config"]
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(Path(env["GIT_CONFIG_GLOBAL"]))
    else:
        files += [xdg / "git" / "config", home / ".gitconfig"]
    if not env.get("GIT_CONFIG_NOSYSTEM"):
        files.append(Path(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"))
    key: list[Any] = [[name, env.get(name)] for name in _GIT_ENV]
    for path in files:
        try:
            st = path.stat()
            with open(path, "rb") as f:
                if b"include" in f.read().lower():
                    return None
        except FileNotFoundError:
            key.append([str(path), None])
            continue
        except OSError:
            return None
        key.append([str(path), st.st_ino, st.st_size, st.st_mtime_ns])
    return key


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
