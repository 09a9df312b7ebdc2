"""Coder adapters: (task, project, holder, config) -> the argv and environment of one run.

Every run's environment carries the report protocol an agent uses: ``AOF_ROOT``,
``AOF_ACTOR`` (``agent:<holder>``), ``AOF_TASK_ID`` and ``AOF_LEASE_TOKEN``, so
``aof task progress|heartbeat|complete|fail|block`` work with no arguments but their own.

Built in so far: ``demo`` (``python -m aof.runner.demo``: a deterministic local coder that
really edits a worktree and reports through the CLI) and any coder defined in aof.yaml::

    coders:
      my-coder:
        command: ["my-agent", "--task", "{task_id}", "--prompt", "{prompt}"]
        env: {MY_AGENT_MODE: headless}
        max_concurrent: 2

Placeholders: ``{task_id}``, ``{title}``, ``{prompt}``, ``{root}``, ``{project_root}``,
``{model}``. The claude, codex, aider, gemini and opencode adapters come with the agent
runner (issue 5) through the same function.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..task import Task

BUILT_IN = ("demo",)

PROMPT = """You are working on task {task_id}: {title}

{body}

Report back with the aof CLI (your environment already holds AOF_TASK_ID and AOF_LEASE_TOKEN):
  aof task progress --note "what you did"      (also renews your lease)
  aof task complete --summary "what was done"  (when the acceptance criteria are met)
  aof task block --question "what you need"     (when a person must decide)
  aof task fail --error "what went wrong"
"""


def prompt_for(task: Task) -> str:
    return PROMPT.format(task_id=task.id, title=task.title, body=task.body.strip())


def known(coder: str, config: dict[str, Any]) -> bool:
    return coder in BUILT_IN or bool(((config.get("coders") or {}).get(coder) or {}).get("command"))


def build(
    coder: str,
    task: Task,
    *,
    root: Path,
    holder: str,
    token: str,
    project: dict[str, Any] | None,
    config: dict[str, Any],
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment for running ``task`` with ``coder``; ConfigError if
    the coder is not known."""
    project = project or {}
    env = {
        "AOF_ROOT": str(root),
        "AOF_ACTOR": f"agent:{holder}",
        "AOF_TASK_ID": task.id,
        "AOF_LEASE_TOKEN": token,
        "AOF_CODER": coder,
    }
    if project.get("root_path"):
        env["AOF_PROJECT_ROOT"] = str(project["root_path"])
        env["AOF_PROJECT_BRANCH"] = str(project.get("default_branch") or "main")
    spec = (config.get("coders") or {}).get(coder) or {}
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    if spec.get("command"):
        template = spec["command"]
        parts = shlex.split(template) if isinstance(template, str) else [str(p) for p in template]
        values = {
            "task_id": task.id,
            "title": task.title,
            "prompt": prompt_for(task),
            "root": str(root),
            "project_root": str(project.get("root_path") or ""),
            "model": str(task.meta.get("model") or project.get("model") or ""),
        }
        try:
            return [p.format(**values) for p in parts], env
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"aof.yaml: coders.{coder}.command: bad placeholder {exc} in {template!r} "
                f"(known: {', '.join('{' + k + '}' for k in values)})"
            ) from None
    if coder == "demo":
        return [sys.executable, "-m", "aof.runner.demo"], env
    raise ConfigError(
        f"coder {coder!r} is not known: built in are {', '.join(BUILT_IN)}; define others "
        f"in aof.yaml under coders.{coder}.command"
    )
