"""Coders: which coder and model run a task, and the argv, environment and prompt of a run.

A coder name resolves to an adapter (:mod:`aof.coders.adapters`): a name with
``coders.<name>.command`` in aof.yaml is a command template; ``coders.<name>.adapter`` gives
a custom name a built-in adapter (``claude-opus: {adapter: claude, model: opus}``); any
other name must be a registered adapter (claude, codex, aider, gemini, opencode, demo, or
a plugin's). ``coders.<name>.program``, ``args``, ``env`` and ``max_concurrent`` apply to
all of them.

Coder and model resolve task -> agent profile -> project -> fleet default (``defaults``
in aof.yaml, which ``aof daemon --coder`` overrides for one daemon). A new fleet has no
default coder: a task that resolves to none is not dispatched (:data:`NO_CODER` says why).

Every run's environment carries the report protocol: ``AOF_ROOT``, ``AOF_ACTOR``
(``agent:<holder>``), ``AOF_TASK_ID``, ``AOF_LEASE_TOKEN``, ``AOF_CODER``, ``AOF_RUN_DIR``
and, with a worktree, ``AOF_WORKTREE`` and ``AOF_BRANCH``. A coder's environment is clean
(:func:`coder_environment`): those run variables, the coder's own ``env`` from aof.yaml,
and of the environment aof runs in only :data:`BASE_ENV` and the provider keys its adapter
names (``ANTHROPIC_API_KEY`` for claude ...): no ``AOF_MCP_TOKEN``, no cloud keys.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import ConfigError, ValidationError
from ..files.safefs import read_text_or_none
from ..model.task import Task
from ..model.text import HANDOFF

if TYPE_CHECKING:  # the adapters load on use: the planner imports resolve() only
    from .adapters import Adapter

NO_CODER = "no coder configured (set defaults.coder in aof.yaml, or --coder)"
ARTIFACTS = ("plan.md", "status.md", "notes.md", "questions.md")
ARTIFACT_MAX = 4000
HANDOFF_HINT = """
## Where the last attempt stopped

An earlier attempt ended as its context window filled. Its notes are under ## Hand-off in
the task above: read them, check its commits on your branch, and carry on from there.
"""

PROMPT = """You are a coding agent working on task {task_id}: {title}
{where}
## The task

{body}

## Acceptance criteria

{criteria}
{earlier}
## How to report back

Use the aof CLI; your environment already holds AOF_TASK_ID and AOF_LEASE_TOKEN, so no ids
or tokens are needed (add --json for machine-readable output):
  aof task progress --note "what you did"      (a work-log entry; also renews your lease)
  aof task complete --summary "what was done"  (only when the acceptance criteria are met)
  aof task block --question "what you need"     (when a person must decide; you will be
                                                 started again with the answer in the task)
  aof task fail --error "what went wrong"       (when you cannot finish; it is retried)
Exiting without one of complete, block or fail counts as a failed attempt.
Keep your plan and notes in $AOF_RUN_DIR (plan.md, status.md, notes.md): if this attempt
ends early, the next one is shown them.
"""


def resolve(
    task: dict[str, Any],
    agent: dict[str, Any] | None,
    project: dict[str, Any] | None,
    config: dict[str, Any],
) -> tuple[str | None, str | None]:
    """(coder, model) for a task: task -> agent profile -> project -> fleet default; the
    coder is None when none of them names one."""
    defaults = config.get("defaults") or {}
    chain = (task, agent or {}, project or {}, defaults)
    coder = next((str(d["coder"]) for d in chain if d.get("coder")), None)
    spec = (config.get("coders") or {}).get(coder or "") or {}
    model = next((str(d["model"]) for d in chain[:3] if d.get("model")), None)
    model = model or spec.get("model") or defaults.get("model")
    return coder, (str(model) if model else None)


def adapter_for(coder: str, config: dict[str, Any]) -> tuple[Adapter, dict[str, Any]]:
    """The adapter that runs ``coder`` and its aof.yaml spec; ConfigError if unknown."""
    from .adapters import get as get_adapter

    spec = dict((config.get("coders") or {}).get(coder) or {})
    if spec.get("command"):
        return get_adapter("command"), spec
    name = str(spec.get("adapter") or coder)
    try:
        return get_adapter(name), spec
    except ConfigError:
        from .adapters import names

        raise ConfigError(
            f"coder {coder!r} is not known: built in are {', '.join(n for n in names())}; "
            f"define others in aof.yaml under coders.{coder}.command (or .adapter)"
        ) from None


def program_of(coder: str, config: dict[str, Any]) -> str | None:
    """The program a run of ``coder`` starts (the first word of its command), or None when it
    needs none of its own (the built-in demo coder). ConfigError if the coder is unknown."""
    spec = (config.get("coders") or {}).get(coder) or {}
    command = spec.get("command")
    if command:
        words = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        return words[0] if words else None
    if spec.get("program"):
        return str(spec["program"])
    from .adapters import default_program

    return default_program(str(spec.get("adapter") or coder)) or None


def installed(program: str, coder: str, config: dict[str, Any]) -> bool:
    """Whether ``program`` can be started: found on PATH (the coder's own ``env.PATH`` when
    aof.yaml gives one), or an executable file when it names a path."""
    env = ((config.get("coders") or {}).get(coder) or {}).get("env") or {}
    return shutil.which(program, path=env.get("PATH")) is not None


def not_installed(coder: str, program: str) -> str:
    """The reason a task waits, and the doctor's problem, when a coder's program is missing."""
    where = "does not exist or is not executable" if "/" in program else "is not on PATH"
    return f"coder {coder} not installed: `{program}` {where}"


def unavailable(coder: str, config: dict[str, Any]) -> str | None:
    """Why ``coder`` cannot be started on this machine (unknown, or its program is not
    installed), else None."""
    try:
        adapter_for(coder, config)
        program = program_of(coder, config)
    except ConfigError as exc:
        return str(exc)
    if program and not installed(program, coder, config):
        return not_installed(coder, program)
    return None


def missing(coders: Iterable[str], config: dict[str, Any]) -> dict[str, str]:
    """Coder -> program, for each of ``coders`` whose program is not installed (unknown
    coders are left to the daemon, which blocks their tasks with the reason)."""
    out = {}
    for coder in sorted(set(coders)):
        try:
            program = program_of(coder, config)
        except ConfigError:
            continue
        if program and not installed(program, coder, config):
            out[coder] = program
    return out


def known(coder: str, config: dict[str, Any]) -> bool:
    try:
        adapter_for(coder, config)
    except ConfigError:
        return False
    return True


def section(body: str, *names: str) -> str:
    """The text of the first ``## <name>`` section of a Markdown body (case-insensitive)."""
    for name in names:
        m = re.search(
            rf"^##\s+{re.escape(name)}\s*$\n(.*?)(?=^##\s|\Z)", body, re.IGNORECASE | re.M | re.S
        )
        if m and m.group(1).strip():
            return m.group(1).strip()
    return ""


def earlier_artifacts(run_root: Path, attempt: int) -> str:
    """What earlier attempts left in their run folders (newest copy of each artifact)."""
    found: dict[str, tuple[int, str]] = {}
    for n in range(attempt - 1, 0, -1):
        for name in ARTIFACTS:
            if name in found:
                continue
            # Never through a link, a regular file only, size-capped: the agent writes these.
            text = (read_text_or_none(run_root / str(n) / name) or "").strip()
            if text:
                found[name] = (n, text[:ARTIFACT_MAX])
    if not found:
        return ""
    parts = [f"### {name} (attempt {n})\n\n{text}" for name, (n, text) in sorted(found.items())]
    return "\n## What earlier attempts left\n\n" + "\n\n".join(parts) + "\n"


def prompt_for(
    task: Task,
    *,
    project: dict[str, Any] | None = None,
    worktree: str | None = None,
    branch: str | None = None,
    run_root: Path | None = None,
    attempt: int = 1,
) -> str:
    body = task.body.strip()
    criteria = section(body, "Acceptance criteria", "Acceptance", "Definition of done")
    where = ""
    if project:
        where = f"\nProject: {project.get('slug')}"
        if worktree:
            where += f", in a git worktree at {worktree} on branch {branch}: commit your work there"
        where += ".\n"
    earlier = earlier_artifacts(run_root, attempt) if run_root else ""
    if section(body, HANDOFF):
        earlier = HANDOFF_HINT + earlier
    return PROMPT.format(
        task_id=task.id,
        title=task.title,
        where=where,
        body=body or task.title,
        criteria=criteria or "None written down: the task above is done when its objective is met.",
        earlier=earlier,
    )


ARGV_VALUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,199}\Z")


def check_argv_value(field: str, value: str | None) -> None:
    """ValidationError unless ``value`` (a model, a session id: values that become coder
    argv) is None or plain text of a safe charset that cannot be read as an option."""
    if value is not None and not ARGV_VALUE_RE.match(str(value)):
        raise ValidationError(
            f"{field}: {value!r} is not accepted on a coder's command line (letters, digits "
            "and . _ : / @ + = -, not starting with - )"
        )


# What every coder inherits: where programs, home and temp files are, the locale and the
# terminal, and how the operator set up the dynamic linker (LD_PRELOAD, LD_LIBRARY_PATH:
# the runtime aof itself runs with, never a secret).
BASE_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER", "TMPDIR", "LD_PRELOAD", "LD_LIBRARY_PATH",
)  # fmt: skip


def coder_environment(
    inherited: Mapping[str, str], run_env: Mapping[str, str], coder: str, config: dict[str, Any]
) -> dict[str, str]:
    """The whole environment of a run of ``coder``: of ``inherited`` (the environment aof
    runs in) only :data:`BASE_ENV`, the adapter's ``provider_env`` and the names the coder's
    ``env_passthrough`` in aof.yaml lists, then ``run_env`` (the run's ``AOF_*`` variables
    and the coder's own ``env``)."""
    names: tuple[str, ...] = BASE_ENV
    with contextlib.suppress(ConfigError):  # an unknown coder inherits the base only
        adapter, spec = adapter_for(coder, config)
        names += adapter.provider_env
        names += tuple(str(n) for n in spec.get("env_passthrough") or ())
    env = {k: inherited[k] for k in names if k in inherited}
    env.update(run_env)
    return env


def environment(
    *, root: Path, holder: str, token: str, task_id: str, coder: str, spec: dict[str, Any]
) -> dict[str, str]:
    env = {
        "AOF_ROOT": str(root),
        "AOF_ACTOR": f"agent:{holder}",
        "AOF_TASK_ID": task_id,
        "AOF_LEASE_TOKEN": token,
        "AOF_CODER": coder,
    }
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    return env


def build(
    coder: str,
    task: Task,
    *,
    root: Path,
    holder: str,
    token: str,
    project: dict[str, Any] | None,
    config: dict[str, Any],
    model: str | None = None,
    worktree: str | None = None,
    branch: str | None = None,
    attempt: int = 1,
    session_id: str | None = None,
    interactive: bool = False,
    prompt: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment for running ``task`` with ``coder``; ConfigError if
    the coder is not known. ``prompt``: the run's own (a reviewer's), not the task's."""
    from .adapters import Invocation

    adapter, spec = adapter_for(coder, config)
    project = project or {}
    check_argv_value("model", model)
    check_argv_value("session id", session_id)
    prompt = prompt or prompt_for(
        task,
        project=project or None,
        worktree=worktree,
        branch=branch,
        run_root=layout.task_runs(root, task.id),
        attempt=attempt,
    )
    inv = Invocation(
        task_id=task.id,
        title=task.title,
        prompt=prompt,
        root=str(root),
        cwd=worktree or "",
        model=model,
        project_root=str(project.get("root_path") or ""),
        session_id=session_id if adapter.resumes else None,
        interactive=interactive,
        spec=spec,
    )
    env = environment(
        root=root, holder=holder, token=token, task_id=task.id, coder=coder, spec=spec
    )
    env.update(adapter.env(inv))
    if project.get("root_path"):
        env["AOF_PROJECT_ROOT"] = str(project["root_path"])
        env["AOF_PROJECT_BRANCH"] = str(project.get("default_branch") or "main")
    if model:
        env["AOF_MODEL"] = model
    return adapter.argv(inv), env
