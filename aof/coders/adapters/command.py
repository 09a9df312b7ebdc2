"""Any command: an argv template from aof.yaml (``coders.<name>.command``).

Placeholders: ``{task_id}``, ``{title}``, ``{prompt}``, ``{root}``, ``{project_root}``,
``{worktree}``, ``{model}``, ``{session_id}``. Its output is taken as plain text (usage
limits and context exhaustion are still recognized).
"""

from __future__ import annotations

import shlex

from ...errors import ConfigError
from .base import Adapter, Invocation


class Command(Adapter):
    name = "command"
    description = "any command line, from coders.<name>.command in aof.yaml"

    def argv(self, inv: Invocation) -> list[str]:
        template = inv.spec.get("command")
        if not template:
            raise ConfigError("the command coder needs coders.<name>.command in aof.yaml")
        parts = shlex.split(template) if isinstance(template, str) else [str(p) for p in template]
        values = {
            "task_id": inv.task_id,
            "title": inv.title,
            "prompt": inv.prompt,
            "root": inv.root,
            "project_root": inv.project_root,
            "worktree": inv.cwd,
            "model": inv.model or "",
            "session_id": inv.session_id or "",
        }
        try:
            return [p.format(**values) for p in parts] + self.extra(inv)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"aof.yaml: coders.<name>.command: bad placeholder {exc} in {template!r} "
                f"(known: {', '.join('{' + k + '}' for k in values)})"
            ) from None
