"""The pr gate's changes to a task: its pull request recorded, and each reaction to the PR's
condition applied (docs/forge.md).

The forge itself is talked to by the daemon's poller (:mod:`aof.forge.poller`); what it
decides reaches the task through here, one audited change each. A reaction's fingerprints
are written into the task (``gate.pr.reacted``) in the same change that applies it, so a
reaction is applied exactly once: a daemon killed before the change reacts after its
restart, one killed after it never reacts again.

- ``send_back`` (CI failed, changes requested, a merge conflict): the feedback under
  ``## Feedback``, back to ready for the same agent at once; each reaction has a budget of
  ``reactions.NAME.retries`` send-backs, past which the task is blocked for a person
  (``rejected_cap``). A send-back never uses up ``max_attempts`` nor ``max_rejections``.
- ``merged``: the task is done; its gate records the merge commit.
- ``closed``: the task is cancelled with the reason.
- a notice (``base_red``, ``merge_waiting``, ``stuck``): the task stays; a person is told.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidTransition
from ..model.task import State, Task
from ..model.text import append_section
from .gates import Gates
from .pipeline import Pipeline

REACTED_KEPT = 200  # fingerprints a task keeps (the newest)
NOTICE_EVENTS = {"base_red": "base_red", "merge_waiting": "merge_waiting", "stuck": "pr_stuck"}


class PrGate:
    """The pr gate's side of the service (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline, gates: Gates) -> None:
        self.pipeline = pipeline
        self.gates = gates

    def record_pr(self, ref: str, pr: dict[str, Any]) -> Task:
        """Record the task's pull request (``pr``: repo, number, url, head_sha, pushed): opened
        now, or updated with a new push."""
        opened = [False]

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            state = _at_pr_gate(task, meta)
            before = dict(state.get("pr") or {})
            opened[0] = not before.get("number")
            state["pr"] = {**before, **pr}
            meta["gate"] = state
            if opened[0]:
                line = f"pull request #{pr['number']} opened: {pr['url']}"
                return append_section(task.body, "Work Log", self.pipeline.note(line))
            return None

        task = self.pipeline.tasks.load(ref)
        had = ((task.meta.get("gate") or {}).get("pr") or {}).get("number")
        return self.pipeline.change(
            ref,
            "pr_opened" if not had else "pr_updated",
            None,
            mutate,
            allowed_from=[State.REVIEW],
            reason=f"PR #{pr['number']} at {str(pr.get('head_sha'))[:10]}: {pr.get('url')}",
        )

    def react(self, ref: str, reaction: dict[str, Any]) -> Task:
        """Apply one reaction (:class:`aof.forge.reactions.Reaction` as a mapping, with
        ``action``: send_back | done | cancel | notify, and its settings' ``retries``);
        InvalidTransition when every fingerprint of it was applied already."""
        task = self.pipeline.tasks.load(ref)
        action, name = reaction["action"], reaction["name"]
        target: State | None = None
        event: str | None = NOTICE_EVENTS.get(name)
        escalate = False
        if action == "send_back":
            used = _sent_back(task.meta, name)
            escalate = used >= int(reaction.get("retries", 3))
            target = State.BLOCKED if escalate else State.READY
            event = "rejected_cap" if escalate else "rejected"
        elif action == "done":
            target = State.DONE
        elif action == "cancel":
            target = State.CANCELLED
            event = None
        elif action == "block":  # the pr gate cannot work (no repository, no branch)
            target, escalate, event = State.BLOCKED, True, "rejected_cap"

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            state = _at_pr_gate(task, meta)
            pr = dict(state.get("pr") or {})
            reacted = list(pr.get("reacted") or [])
            new = [f for f in reaction["fingerprints"] if f not in reacted]
            if not new:
                raise InvalidTransition(f"task {task.id}: reaction {name} was applied already")
            pr["reacted"] = (reacted + new)[-REACTED_KEPT:]
            if reaction.get("merge_commit"):
                pr["merge_commit"] = reaction["merge_commit"]
            state["pr"] = pr
            meta["gate"] = state
            return self._body(task, meta, reaction, target, escalate)

        return self.pipeline.change(
            ref,
            f"pr_{name}",
            target,
            mutate,
            allowed_from=[State.REVIEW],
            reason=reaction["reason"],
            event=event,
        )

    def _body(
        self,
        task: Task,
        meta: dict[str, Any],
        reaction: dict[str, Any],
        target: State | None,
        escalate: bool,
    ) -> str | None:
        state = meta["gate"]
        entry = {
            "gate": state.get("current"),
            "kind": "pr",
            "round": state.get("round"),
            "reaction": reaction["name"],
            "sha": reaction.get("sha"),
            "by": str(self.pipeline.actor),
            "at": self.pipeline.now(),
        }
        if target == State.DONE:
            entry.update(outcome="passed", merge_commit=reaction.get("merge_commit"))
        elif target in (State.READY, State.BLOCKED) and reaction["action"] == "send_back":
            entry["outcome"] = "rejected"
        else:
            entry["outcome"] = reaction["name"]
        state["history"] = [*state.get("history", []), {k: v for k, v in entry.items() if v}]
        if target in (State.READY, State.BLOCKED, State.DONE, State.CANCELLED):
            meta.pop("retry_after", None)
            kept = ("round", "worker", "history", "pr")
            meta["gate"] = {k: state[k] for k in kept if state.get(k) is not None}
        if target == State.BLOCKED and escalate:
            why = reaction["reason"]
            if reaction["action"] == "send_back":
                why += (
                    f"; {reaction['name']} sent the work back {reaction.get('retries', 3)} "
                    f"time(s) (reactions.{reaction['name']}.retries): a person decides"
                )
            meta["blocked"] = {
                "reason": why,
                "by": str(self.pipeline.actor),
                "at": self.pipeline.now(),
            }
        if target in (State.READY, State.BLOCKED) and reaction.get("feedback"):
            note = self.pipeline.note(str(reaction["feedback"]))
            return append_section(task.body, "Feedback", note)
        if target == State.CANCELLED:
            return append_section(task.body, "Cancelled", self.pipeline.note(reaction["reason"]))
        return None


def _at_pr_gate(task: Task, meta: dict[str, Any]) -> dict[str, Any]:
    state = dict(meta.get("gate") or {})
    if state.get("kind") != "pr":
        raise InvalidTransition(
            f"task {task.id} is not at a pr gate (gate {state.get('current')!r})"
        )
    return state


def _sent_back(meta: dict[str, Any], name: str) -> int:
    """How often reaction ``name`` sent this task's work back already."""
    history = (meta.get("gate") or {}).get("history") or []
    return sum(
        1
        for h in history
        if isinstance(h, dict)
        and h.get("kind") == "pr"
        and h.get("reaction") == name
        and h.get("outcome") == "rejected"
    )
