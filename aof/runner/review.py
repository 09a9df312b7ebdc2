"""A reviewer's run: an agent that reviews another agent's work at a review gate.

Dispatched by the daemon for the planner's ``review`` actions: the reviewer takes the task's
lease for the gate (:meth:`aof.Fleet.claim_gate`, never an attempt of the task), runs in the
task's worktree with a prompt of its own (:func:`prompt`): the task and its acceptance
criteria, the diff of the branch against the project's base branch, and the output of the
gates that ran in this round. It answers with ``aof gate approve|reject``. A reviewer's run
that cannot start, or ends without a verdict, gives the lease back
(:meth:`aof.Fleet.release_gate`): the gate is handed out again, and a person decides after a
few such runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..coders.resolve import section
from ..errors import AofError
from ..journal.git import run as run_git
from ..model.branches import branch_for
from . import launch
from .dispatch import Dispatched
from .executor import Executor

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..model.task import Task

DIFF_MAX = 60_000  # characters of the diff in a reviewer's prompt
LOG_LINES = 40  # of each gate's output

PROMPT = """You are reviewing the work on task {task_id}: {title}
Another agent ({worker}) did the work on branch {branch}{where}. You are at the review gate
"{gate}". Do not change the code: read it, judge it against the task and its acceptance
criteria, and give your verdict.

## The task

{body}

## Acceptance criteria

{criteria}

## The change (git diff {base}...{branch})

```diff
{diff}
```
{gates}
## How to answer

Your environment already holds AOF_TASK_ID and AOF_LEASE_TOKEN. Give exactly one verdict:
  aof gate approve {task_id} --feedback "why it is good"
  aof gate reject {task_id} --feedback "what must change, concretely"
A rejection sends the work back to its agent with your feedback. Exiting without a verdict
leaves the review to be done again.
"""


def diff_of(repo: Path, base: str, branch: str) -> str:
    """``git diff base...branch`` in ``repo``, cut at :data:`DIFF_MAX` characters."""
    proc = run_git(repo, "diff", "--stat", "--patch", f"{base}...{branch}")
    text = proc.stdout if proc.returncode == 0 else f"(no diff: {proc.stderr.strip()})"
    if len(text) > DIFF_MAX:
        text = text[:DIFF_MAX] + f"\n... (cut at {DIFF_MAX} characters)"
    return text or "(no change)"


def gate_outputs(root: Path, task: Task) -> str:
    """The results of this round's gates, with the tail of each command gate's output."""
    from .gates import tail

    gate = task.meta.get("gate") or {}
    rows = [h for h in gate.get("history") or [] if h.get("round") == gate.get("round")]
    if not rows:
        return ""
    parts = []
    for h in rows:
        head = f"### {h.get('gate')}: {h.get('outcome')}"
        if h.get("sha"):
            head += f" on {str(h['sha'])[:10]}"
        if h.get("log"):
            head += f"\n\n```\n{tail(root / str(h['log']), LOG_LINES)}\n```"
        parts.append(head)
    return "\n## Gates passed so far\n\n" + "\n\n".join(parts) + "\n"


def prompt(fleet: Fleet, task: Task, project: Mapping[str, Any] | None) -> str:
    gate = task.meta.get("gate") or {}
    branch = branch_for(task.id, task.meta)
    base = str((project or {}).get("default_branch") or "main")
    repo = (project or {}).get("root_path")
    diff = diff_of(Path(str(repo)).expanduser(), base, branch) if repo else "(no repository)"
    body = task.body.strip()
    return PROMPT.format(
        task_id=task.id,
        title=task.title,
        worker=gate.get("worker") or "an agent",
        branch=branch,
        where=f" of project {project.get('slug')}" if project else "",
        gate=gate.get("current"),
        body=body or task.title,
        criteria=section(body, "Acceptance criteria", "Acceptance", "Definition of done")
        or "None written down: judge by the task's objective.",
        base=base,
        diff=diff,
        gates=gate_outputs(fleet.root, task),
    )


def dispatch_review(
    fleet: Fleet,
    executor: Executor,
    task_id: str,
    agent: str,
    gate: str,
    *,
    projects: Mapping[str, dict[str, Any]],
    coder: str | None = None,
) -> Dispatched:
    """Take ``task_id``'s lease for reviewer ``agent`` at ``gate`` and start its run. The
    claim's errors propagate; a failed start gives the lease back (``error``)."""
    task = fleet.claim_gate(task_id, agent, gate)
    token = str((task.lease or {})["token"])
    fence = token.split("-", 1)[0]
    project = projects.get(str(task.meta.get("project")))
    done = Dispatched(task, agent, coder)
    try:
        resolved, done.model = _coder_of(fleet, task, agent, project)
        done.coder = coder or resolved
        done.spec = launch.run_spec(
            fleet,
            task,
            coder=done.coder,
            holder=agent,
            model=done.model,
            project=project,
            quick=True,
            review={
                "gate": gate,
                "prompt": prompt(fleet, task, project),
                "label": f"review{fence}",
            },
        )
        done.status = executor.submit(done.spec)
    except (OSError, AofError) as exc:
        done.error = f"could not start reviewer {agent} (coder {done.coder or '(none)'}): {exc}"
        try:
            fleet.release_gate(task.id, token, reason=done.error)
        except AofError as again:
            done.unrecorded = str(again)
    return done


def _coder_of(
    fleet: Fleet, task: Task, agent: str, project: Mapping[str, Any] | None
) -> tuple[str, str | None]:
    """The reviewer's coder and model: its profile's, else the project's or the fleet's
    default, never the worker's own (the task's ``coder``)."""
    from ..coders import resolve as coders
    from ..errors import ConfigError

    profile = next((a for a in fleet.registry.rows("agent") if a["slug"] == agent), None)
    meta = {k: v for k, v in task.meta.items() if k not in ("coder", "model")}
    coder, model = coders.resolve(meta, profile, dict(project or {}), fleet.config.data)
    if coder is None:
        raise ConfigError(coders.NO_CODER)
    return coder, model
