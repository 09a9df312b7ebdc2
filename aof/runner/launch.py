"""From a claimed task to a :class:`RunSpec`: coder argv, environment, worktree and limits.

Used by the daemon's dispatch and by ``aof agent spawn|fanout|multi|prompt`` alike, so a
run looks the same whoever started it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..coders import resolve as coders
from ..errors import ConfigError
from ..journal.repos import is_repo
from ..model.branches import branch_for
from .executor import RunSpec
from .tmux import session_name, socket_name
from .worktrees import worktrees_dir

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..model.task import Task

# The settings of aof.yaml's runner section a run's supervisor enforces.
RUNNER_LIMITS = (
    "stuck_notify_s", "stuck_kill_s", "usage_pause_s", "kill_grace_s", "context_stop_pct",
)  # fmt: skip


def run_spec(
    fleet: Fleet,
    task: Task,
    *,
    coder: str,
    holder: str,
    model: str | None = None,
    project: dict[str, Any] | None = None,
    quick: bool = False,
    session_id: str | None = None,
    tmux: bool | None = None,
    review: dict[str, str] | None = None,
) -> RunSpec:
    """The run of ``task`` (already claimed: its lease holds the token) with ``coder``;
    ``tmux``: in a tmux session people can attach to (default: ``runner.tmux``).
    ``review``: a reviewer's run ({gate, prompt, label}), not an attempt of the task: its
    own prompt, ``AOF_GATE`` in its environment, headless, in a folder of its own."""
    config = fleet.config.data
    runner = config.get("runner") or {}
    host = placed_host(config, project)
    in_tmux = bool(runner.get("tmux")) if tmux is None and not host else bool(tmux and not host)
    token = str((task.lease or {})["token"])
    attempt = int(task.meta.get("attempts", 1))
    branch = branch_for(task.id, task.meta)
    worktree = _worktree(fleet, task.id, project, branch, host=host, quick=quick)
    argv, env = coders.build(
        coder,
        task,
        root=fleet.root,
        holder=holder,
        token=token,
        project=project,
        config=config,
        model=model,
        worktree=str(worktree["path"]) if worktree else None,
        branch=branch,
        attempt=attempt,
        session_id=session_id,
        interactive=in_tmux and review is None,
        prompt=review["prompt"] if review else None,
    )
    if review:
        env["AOF_GATE"] = review["gate"]
    folder = f"{attempt}-{review['label']}" if review else str(attempt)
    env.update(api_env(fleet, task.id, f"{task.id}.{folder}", holder, host=host))
    limits = {
        "budget": dict(task.meta.get("budget") or {}),
        "spent": dict(task.meta.get("spent") or {}),
        "lease_ttl_s": float(fleet.config.scheduler["lease_ttl_s"]),
        **{k: runner.get(k) for k in RUNNER_LIMITS},
    }
    return RunSpec(
        task_id=task.id,
        attempt=attempt,
        token=token,
        holder=holder,
        coder=coder,
        argv=argv,
        env=env,
        worktree=worktree,
        limits=limits,
        config={"coders": {coder: (config.get("coders") or {}).get(coder) or {}}},
        tmux={"socket": socket_name(fleet.root), "session": session_name(task.id, attempt)}
        if in_tmux and review is None
        else None,
        label=review["label"] if review else "",
        model=model,
        host=host,
    )


def _worktree(
    fleet: Fleet,
    task_id: str,
    project: dict[str, Any] | None,
    branch: str,
    *,
    host: str | None,
    quick: bool,
) -> dict[str, Any] | None:
    """The run's worktree of ``project``'s repository (None: the project has none). On
    another host, the project's root_path is a path there; so is its worktree."""
    if not project or not (host or is_repo(project.get("root_path"))):
        return None
    config = fleet.config.data
    repo = str(project["root_path"])
    path = remote_worktree(config, task_id)
    if not host:
        repo = str(Path(repo).expanduser())
        path = str(worktrees_dir(fleet.root, config) / task_id)
    return {
        "path": path,
        "repo": repo,
        "branch": branch,
        "base": str(project.get("default_branch") or "main"),
        "setup": list(project.get("setup") or []),
        "credential_files": list(project.get("credential_files") or []),
        "quick": quick,
    }


def placed_host(config: dict[str, Any], project: dict[str, Any] | None) -> str | None:
    """The host a run of ``project`` goes to: its placement (``host:``) when aof.yaml's
    ``executor.kind`` is ``rq``; None: this machine."""
    if not project or not project.get("host"):
        return None
    kind = (config.get("executor") or {}).get("kind") or "local"
    return str(project["host"]) if kind == "rq" else None


def remote_worktree(config: dict[str, Any], task_id: str) -> str:
    """Where a run on another host works: ``~/.aof/worktrees/<fleet>/<task>`` of the user
    its ``aof worker`` runs as (``~`` is that host's home)."""
    return f"~/.aof/worktrees/{config.get('name') or 'fleet'}/{task_id}"


def api_env(
    fleet: Fleet, task_id: str, run_id: str, holder: str, *, host: str | None = None
) -> dict[str, str]:
    """``AOF_API_URL`` and a new run token ``AOF_API_TOKEN`` when aof.yaml names the remote
    API (``executor.api_url``): the coder's ``aof task ...`` calls may go to it from any
    host. The token opens only this task's lease verbs and this run's uploads (``host``:
    the host the run is placed on, whose worker token may upload for it too)."""
    url = ((fleet.config.data.get("executor") or {}).get("api_url") or "").strip()
    if not url:
        return {}
    from ..fleetapi import mint_run_token

    token = mint_run_token(fleet, task_id, run_id, f"agent:{holder}", host=host)
    return {"AOF_API_URL": url.rstrip("/"), "AOF_API_TOKEN": token}


def coder_and_model(
    fleet: Fleet, task: Task, agent: str | None, project: dict[str, Any] | None
) -> tuple[str, str | None]:
    """Resolve a task's coder and model (task -> agent profile -> project -> default);
    ConfigError when none of them names a coder."""
    profile = None
    if agent:
        profile = next((a for a in fleet.registry.rows("agent") if a["slug"] == agent), None)
    coder, model = coders.resolve(task.meta, profile, project, fleet.config.data)
    if coder is None:
        raise ConfigError(coders.NO_CODER)
    return coder, model
