"""Starting an agent now on a task that already exists (an imported issue's task), the way
``aof agent spawn`` starts one on a new task (:class:`aof.runner.sessions.Sessions`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidTransition, ValidationError
from ..model.branches import BRANCH_RE, branch_for
from ..model.task import TERMINAL, State, Task

if TYPE_CHECKING:
    from ..fleet import Fleet

# What to do about a task that cannot be started now, by its state.
HINTS = {
    State.IN_PROGRESS: "an agent works on it (`aof agent logs {ref}`, `aof agent attach {ref}`)",
    State.REVIEW: "its work waits at a gate (`aof task show {id}`)",
    State.BLOCKED: "it waits for an answer (`aof task answer {id} --text ...`)",
    State.DEADLETTER: "its attempts ran out (`aof task resurrect {id}` first)",
    State.DONE: "it is finished",
    State.CANCELLED: "it was cancelled",
}


def _check_branch(fleet: Fleet, task: Task, branch: str) -> None:
    if not BRANCH_RE.match(branch):
        raise ValidationError(
            f"branch {branch!r}: not a branch name aof accepts (letters, digits, . _ - /; "
            "no '..', no leading '-')"
        )
    open_states = [s for s in State if s not in TERMINAL]
    for row in fleet.list_tasks(states=open_states):
        if row.get("branch") == branch and row["id"] != task.id:
            raise InvalidTransition(
                f"branch already has an open agent session: {branch} (task {row['id']}) "
                "(`aof agent prompt` steers it; `aof agent kill` stops it)"
            )


def start_task(
    fleet: Fleet,
    task: Task,
    project: dict[str, Any],
    *,
    branch: str | None = None,
    coder: str | None = None,
    model: str | None = None,
    quick: bool = False,
    tmux: bool | None = None,
) -> dict[str, Any]:
    """Promote ``task`` if it is in backlog, set its branch, coder and model when given,
    then claim and start it at once (the row ``aof agent spawn`` prints)."""
    from ..coders import resolve as coders
    from ..runner.sessions import SESSION_LABEL, Sessions

    if task.state not in (State.BACKLOG, State.READY):
        ref = branch_for(task.id, task.meta)
        hint = HINTS.get(task.state, "").format(ref=ref, id=task.id)
        raise InvalidTransition(f"task {task.id} is {task.state.value}: {hint}")
    fields: dict[str, Any] = {}
    if branch and branch != task.meta.get("branch"):
        _check_branch(fleet, task, branch)
        fields["branch"] = branch
    for key, value in (("coder", coder), ("model", model)):
        if value:
            fields[key] = value
    config = fleet.config.data
    name = coders.resolve({**task.meta, **fields}, None, project, config)[0]
    problem = coders.unavailable(name, config) if name else coders.NO_CODER
    if problem:
        raise ConfigError(problem)
    if tmux or (tmux is None and (config.get("runner") or {}).get("tmux")):
        from ..coders.tmuxprogram import check_version

        check_version()
    if task.state == State.BACKLOG:
        task = fleet.promote(task.id)
    labels = list(task.meta.get("labels") or [])
    if fields or SESSION_LABEL not in labels:
        add = [] if SESSION_LABEL in labels else [SESSION_LABEL]
        task = fleet.edit_task(task.id, set_fields=fields or None, add_labels=add)
    row: dict[str, Any] = Sessions(fleet).start(task, project, quick=quick, tmux=tmux)
    return row
