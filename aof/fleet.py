"""The service: the one door through which every change to a fleet root passes.

``Fleet`` combines the pipeline and reads (:mod:`aof.service.pipeline`), the lifecycle verbs
(:mod:`aof.service.lifecycle`), run outcomes (:mod:`aof.service.outcomes`) and the scheduling front
(:mod:`aof.service.scheduling`). The CLI and the MCP server call its methods and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ClaimConflict, RootExists
from .files import cardfile
from .journal.audit import check_reason
from .model.config import CONFIG_NAME
from .model.task import slugify
from .model.text import append_section
from .service.outcomes import Outcomes
from .service.pipeline import template_dir
from .service.scheduling import Scheduling


class Fleet(Outcomes, Scheduling):
    """One fleet root. Every change to it goes through a method of this class.

    ``clock`` and ``ids`` are injected so tests and replays are exact; ``actor`` is who the
    changes are attributed to in the audit trail and git; ``commit`` overrides ``git.commit``;
    ``reason`` is the reason of every audit record this object appends (see :meth:`reason`
    for one block of calls), in place of the one each verb computes.
    """

    # --- creating a fleet root ----------------------------------------------------------

    hook: str | None = None  # the git pre-commit hook `init` installed (path in the root)

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        example: bool = False,
        hooks: bool = True,
        **kwargs: Any,
    ) -> Fleet:
        """Create a fleet root at ``path`` from the template; RootExists if one is there.

        The root gets aof's JSON schemas in ``schemas/`` for editors (:mod:`aof.ops.rootschemas`)
        and, with ``hooks``, a git pre-commit hook that runs ``aof lint`` on the staged fleet
        files (:mod:`aof.journal.githook`; not replacing a pre-commit hook that is already there).
        ``example`` adds an example team and a (disabled) example project to show the shape
        of registry files.
        """
        check_reason(kwargs.get("reason"))  # refused before anything is written
        root = Path(path).expanduser().resolve()
        if (root / CONFIG_NAME).exists():
            raise RootExists(
                f"{root}: already a fleet root ({CONFIG_NAME} exists); not touching it"
            )
        files = _template_files(example)
        clashes = [rel for rel in files if (root / rel).exists()]
        if clashes:
            raise RootExists(f"{root}: would overwrite {clashes[0]}; init needs a fresh directory")
        root.mkdir(parents=True, exist_ok=True)
        fleet_name = name or slugify(root.name) or "fleet"
        for rel, src in files.items():
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text(encoding="utf-8")
            if src.name == CONFIG_NAME:
                text = text.replace("{{name}}", fleet_name)
            cardfile.write_new(dst, text)
        import subprocess

        if not (root / ".git").exists():
            subprocess.run(["git", "init", "-q", str(root)], check=True)
        # Git's own settings for repositories with many files (feature.manyFiles, plus the
        # split index): every aof commit rewrites only a small part of the index.
        for key, value in (
            ("index.version", "4"),
            ("core.untrackedCache", "true"),
            ("core.splitIndex", "true"),
        ):
            subprocess.run(["git", "config", key, value], cwd=root, check=True)
        fleet = cls(root, **kwargs)
        if hooks:
            from .journal.githook import install

            fleet.hook = install(root)
        _, audit_path = fleet.audit.append(
            fleet.actor, "init", ("fleet", fleet_name), reason="aof init"
        )
        fleet.git.commit(
            [*files, audit_path],
            f"fleet {fleet_name}: initialised by aof ({fleet.actor})",
            fleet.actor,
        )
        return fleet

    def next_task(
        self, agent: str | None = None, *, claim: bool = False, at: Any = None
    ) -> dict[str, Any]:
        """The task the plan would hand ``agent`` next; with ``claim``, claim it atomically.

        Returns ``{"task": <task JSON or None>, "reason": ...}``; a lost race moves on to the
        plan's next candidate. The agent asking is the worker, so the plan is a pull plan: a
        task is handed out whether or not a coder is configured for it.
        """

        result = self.plan(at, pull=True)
        candidates = [
            a
            for a in result["actions"]
            if a["kind"] == "dispatch"
            and (a["agent"] is None or agent is None or a["agent"] == agent)
        ]
        for action in candidates:
            if not claim:
                task = self.get_task(action["task"])
                return {
                    "task": self.task_json(task, body=False),
                    "agent": action["agent"],
                    "coder": action["coder"],
                    "reason": "first in the plan's order",
                }
            try:
                task = self.claim(action["task"], agent or action["agent"] or "anonymous")
            except ClaimConflict:
                continue
            return {
                "task": self.task_json(task, body=False),
                "agent": action["agent"],
                "coder": action["coder"],
                "token": (task.lease or {}).get("token"),
                "reason": "claimed",
            }
        waiting = len(result["waiting"])
        return {
            "task": None,
            "agent": agent,
            "coder": None,
            "reason": f"nothing to dispatch now ({waiting} ready task(s) waiting; "
            "`aof plan` says why)",
        }

    # --- maintenance ------------------------------------------------------------------

    def doctor(self, *, fix: bool = False) -> Any:
        """Check (and with ``fix`` repair) every invariant; see :mod:`aof.ops.doctor`."""
        from .ops.doctor import run

        return run(self, fix=fix)

    def lint(
        self, paths: Sequence[str] | None = None, warnings: list[str] | None = None
    ) -> list[str]:
        """Validate every file (or the fleet files among ``paths``) against the schemas and
        each other; ``file:line: field: message`` strings. Keys that look like a typo of a
        known one go to ``warnings`` (not problems: unknown keys are kept)."""
        from .ops.lint import run

        return run(self, paths, warnings)


EXAMPLE_DIR = "example"  # in the template: the files `aof init --example` adds


def _template_files(example: bool) -> dict[Path, Path]:
    """Where each file of a new fleet root comes from: the template, and aof's schemas."""
    from .ops.lint import schemas_dir
    from .ops.rootschemas import DIR

    template = template_dir()
    out: dict[Path, Path] = {}
    for src in sorted(p for p in template.rglob("*") if p.is_file()):
        rel = src.relative_to(template)
        if rel.parts[0] != EXAMPLE_DIR:
            out[rel] = src
        elif example:
            out[rel.relative_to(EXAMPLE_DIR)] = src
    for src in sorted(schemas_dir().glob("*.schema.json")):
        out[Path(DIR) / src.name] = src
    return out


__all__ = ["Fleet", "append_section", "template_dir"]
