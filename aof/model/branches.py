"""Branch names: which git branch a task's work is on, and which names aof accepts.

A task works on ``aof/<task id>``, or on the branch its ``branch`` field names (as
``aof agent spawn BRANCH`` sets). A name aof accepts is a safe subset of git's
``check-ref-format``: letters, digits, ``. _ - /``, no ``..`` or ``//``, no leading ``-``
and no trailing ``.`` or ``/``, at most 100 characters.
"""

from __future__ import annotations

import re
from typing import Any

BRANCH_RE = re.compile(r"(?!.*\.\.)(?!.*//)[A-Za-z0-9][A-Za-z0-9._/-]{0,99}(?<![./])\Z")
PREFIX = "aof/"


def branch_for(task_id: str, meta: dict[str, Any]) -> str:
    """The branch of the task ``task_id`` whose frontmatter is ``meta``."""
    return str(meta.get("branch") or f"{PREFIX}{task_id}")
