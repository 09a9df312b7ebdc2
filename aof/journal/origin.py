"""The origin of a clone: a stable id its audit records carry, so records written by two
clones of one fleet root (a person's laptop, the coordinator) stay apart after a git merge.

The id is made once per clone, 10 random characters of aof's id alphabet from the OS entropy
pool (never the injected id source: two test clones seeded alike must still differ), and
kept in ``.aof/origin`` (never committed; a ``git clone`` makes a new one) together with the
absolute path of the root it was made for. A root copied with ``cp -r`` or moved gets a new
origin the first time it writes: its records then start a new series, which is harmless,
while two copies sharing one origin would repeat ``(origin, day, seq)``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .. import layout

ORIGIN_RE = re.compile(r"[a-z0-9]{4,32}\Z")
LENGTH = 10


def origin_of(root: Path, *, create: bool = True) -> str | None:
    """This clone's origin id, made and kept in ``.aof/origin`` when missing (or when the
    file was made for another path); None only when ``create`` is false and there is none."""
    path = layout.origin(root)
    where = str(root.resolve())
    found = _read(path, where)
    if found is not None or not create:
        return found
    from ..clock import SystemIds
    from ..files.atomic import write_json
    from ..files.locks import lock_for

    with lock_for(layout.lock(root, "origin.lock")):
        found = _read(path, where)  # another process of this clone may have made it meanwhile
        if found is not None:
            return found
        made = SystemIds().token(LENGTH)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"origin": made, "root": where}, durable=True)
        return made


def _read(path: Path, where: str) -> str | None:
    """The origin kept in ``path`` for the root at ``where``, or None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("root") == where
    return str(data["origin"]) if ok and ORIGIN_RE.match(str(data.get("origin"))) else None
