"""The checks :meth:`aof.service.pipeline.Pipeline.change` makes before it writes: the task is
still at the revision the caller read, and the move is one the lifecycle allows."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ClaimConflict, ConcurrentModification, InvalidTransition
from ..model.task import TRANSITIONS, State, Task


def check_revision(task: Task, expect_rev: str | None) -> None:
    """ConcurrentModification if ``task`` is no longer at revision ``expect_rev``."""
    if expect_rev is not None and task.rev != expect_rev:
        raise ConcurrentModification(
            f"task {task.id} changed since revision {expect_rev} (now {task.rev}); "
            "re-read it and apply your change again"
        )


def check_move(
    task: Task,
    action: str,
    to: State | None,
    allowed_from: Iterable[State] | None,
    conflict_as_claim: bool,
) -> State:
    """The state ``action`` moves ``task`` to; InvalidTransition (ClaimConflict for a claim
    that lost) when the lifecycle does not allow it."""
    target = to or task.state
    if allowed_from is not None and task.state not in set(allowed_from):
        if conflict_as_claim and task.state == State.IN_PROGRESS:
            holder = (task.lease or {}).get("holder", "another agent")
            raise ClaimConflict(f"task {task.id} is already claimed by {holder}")
        raise InvalidTransition(
            f"task {task.id} is {task.state.value}; {action} needs it to be "
            f"{' or '.join(s.value for s in allowed_from)}"
        )
    if target != task.state and target not in TRANSITIONS[task.state]:
        raise InvalidTransition(
            f"task {task.id}: {task.state.value} -> {target.value} is not allowed "
            f"(from {task.state.value} it can go to "
            f"{', '.join(sorted(s.value for s in TRANSITIONS[task.state])) or 'nowhere'})"
        )
    return target
