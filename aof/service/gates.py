"""Gates: what stands between an agent's "done" and ``done`` (DESIGN 7, docs/workflows.md).

A task's workflow (its own ``workflow:``, else its project's, its team's, or
``defaults.workflow``) lists gates. When the agent reports completion the task goes to
``review`` and a new **round** begins at the first gate; ``gate`` in the task file says
where it stands::

    gate:
      current: tests          # the gate it is at
      kind: command           # command | review | human (and role/agent/capabilities)
      round: 2                # completions so far: passes count within their round
      worker: coder-1         # who did the work: never its reviewer
      history: [...]          # every result: gate, kind, round, outcome, sha, by, at ...

A gate's work on a task in review holds the task's lease, as a claim does (fenced, renewed
by heartbeats, expired by the planner): ``aof`` itself for a command gate, the reviewer
agent for a review gate; neither is an attempt of the task.

A pass moves to the next gate that is not yet satisfied in this round, where a command gate
is satisfied only by a pass **on the branch's head commit now** (a commit after a pass runs
it again); after the last, the task is done. A rejection (a failing command gate, or a
reviewer's or person's reject) appends the feedback under ``## Feedback`` and sends the task
back to ready for the same agent at once (no back-off, no attempt used up); the rejection
that reaches ``max_rejections`` blocks it for a person instead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ..clock import format_time
from ..errors import InvalidTransition, LeaseError, ValidationError
from ..journal.audit import Actor
from ..model.task import State, Task, token_sha256
from ..model.text import append_section, defused
from ..model.workflow import DEFAULT_MAX_REJECTIONS, Gate, Workflow, parse
from .pipeline import Pipeline

FEEDBACK_LINES = 60  # of a failing command gate's output, into the task body
REVIEW_FAILURES_MAX = 3  # reviewer runs that end without a verdict before a person decides
GATE_HOLDER = "aof"  # who holds the lease while aof runs a command gate
KEPT = ("round", "worker", "history", "pr")  # what a task's gate keeps from gate to gate


class Gates:
    """Workflows and their gates (the facade is :class:`aof.Fleet`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    # --- which workflow -----------------------------------------------------------------

    def workflow_name(self, task: Task) -> str | None:
        """The task's workflow: its own, its project's, its team's, or the fleet default."""
        name = task.meta.get("workflow")
        for kind in ("project", "team"):
            if name:
                break
            slug = task.meta.get(kind)
            if not slug and kind == "team" and task.meta.get("project"):
                slug = self._field("project", task.meta.get("project"), "team")
            name = self._field(kind, slug, "workflow") if slug else None
        name = name or self.pipeline.config.defaults.get("workflow")
        return str(name) if name else None

    def _field(self, kind: str, slug: Any, key: str) -> Any:
        reg = self.pipeline.registry
        if not isinstance(slug, str) or not reg.exists(kind, slug):
            return None
        return reg.get(kind, slug).meta.get(key)

    def workflow_of(self, task: Task) -> Workflow | None:
        """The task's workflow, parsed (None: it has none); ValidationError naming the file."""
        name = self.workflow_name(task)
        if not name:
            return None
        return load_workflow(self.pipeline.root, name, self.pipeline.tasks.rel(task.path))

    def max_rejections(self, task: Task, workflow: Workflow | None = None) -> int:
        """Rejections before the task goes to a person: its workflow's ``max_rejections``,
        else ``workflow.max_rejections`` in aof.yaml (default 3)."""
        workflow = workflow if workflow is not None else self.workflow_of(task)
        cap = workflow.max_rejections if workflow else None
        if cap is None:
            cap = (self.pipeline.config.data.get("workflow") or {}).get(
                "max_rejections", DEFAULT_MAX_REJECTIONS
            )
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            rel = self.pipeline.tasks.rel(task.path)
            raise ValidationError(
                f"{rel}: max_rejections: must be a whole number >= 1 (got {cap!r})"
            )
        return int(cap)

    def head_of(
        self, task: Task | dict[str, Any], meta: dict[str, Any] | None = None
    ) -> str | None:
        """The head commit of the task's branch in its project's repository (None: no
        project repository, or no such branch yet)."""
        from ..journal.repos import branch_head
        from ..model.branches import branch_for

        meta = meta if meta is not None else (task.meta if isinstance(task, Task) else task)
        repo = self._field("project", meta.get("project"), "root_path")
        if not repo:
            return None
        tid = str(meta.get("id"))
        return branch_head(Path(str(repo)).expanduser(), branch_for(tid, meta))

    # --- entering and leaving gates -----------------------------------------------------

    def begin(self, task: Task, meta: dict[str, Any], workflow: Workflow) -> str | None:
        """A completion starts a new round at the first gate (inside the completion's
        mutation); the notification event it raises (a person's gate), if any."""
        gate = dict(meta.get("gate") or {})
        holder = (task.lease or {}).get("holder")
        state = {
            "round": int(gate.get("round") or 0) + 1,
            "worker": holder or gate.get("worker") or str(self.pipeline.actor.id),
            "history": list(gate.get("history") or []),
            "pr": gate.get("pr"),  # a pull request lives on across rounds
        }
        meta["gate"] = state
        return self._enter(meta, workflow.gates[0])

    def _enter(self, meta: dict[str, Any], gate: Gate) -> str | None:
        state = {k: v for k, v in meta["gate"].items() if k in KEPT}
        state.update(current=gate.name, kind=gate.kind)
        if gate.kind == "pr":
            state.update(merge=gate.merge, method=gate.method, approvals=gate.approvals)
        for key in ("role", "agent"):
            if getattr(gate, key):
                state[key] = getattr(gate, key)
        if gate.capabilities:
            state["capabilities"] = list(gate.capabilities)
        meta["gate"] = _ordered_gate(state)
        return "review_waiting" if gate.kind == "human" else None

    def next_gate(self, workflow: Workflow, meta: dict[str, Any], head: str | None) -> Gate | None:
        """The first gate of ``workflow`` not satisfied in the task's current round."""
        gate = meta.get("gate") or {}
        rnd = gate.get("round")
        history = [h for h in gate.get("history") or [] if h.get("round") == rnd]
        for g in workflow.gates:
            mine = [h for h in history if h.get("gate") == g.name]
            if not mine or mine[-1].get("outcome") != "passed":
                return g
            if g.kind == "command" and head is not None and mine[-1].get("sha") != head:
                return g  # a commit since it passed: it runs again
        return None

    # --- a gate's lease -----------------------------------------------------------------

    def claim(self, ref: str, holder: str, gate: str, *, ttl_s: float | None = None) -> Task:
        """Take the lease of a task in review for the work of its current gate ``gate``:
        ``aof`` for a command gate, the reviewer agent for a review. Not an attempt of the
        task. The returned task's lease holds the token (as :meth:`Leases.claim`)."""
        from ..service.leases import TOKEN_CHARS

        ttl = float(ttl_s or self.pipeline.config.scheduler["lease_ttl_s"])
        secret: list[str] = []

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            current = (meta.get("gate") or {}).get("current")
            if current != gate:
                raise InvalidTransition(f"task {task.id} is at gate {current!r}, not {gate!r}")
            kind = (meta.get("gate") or {}).get("kind")
            if kind in ("human", "pr") or (kind == "command") != (holder == GATE_HOLDER):
                who = {
                    "command": "aof runs it",
                    "human": "a person decides it",
                    "pr": "its pull request decides it",
                }
                raise InvalidTransition(
                    f"task {task.id}: gate {gate} is a {kind} gate: "
                    + who.get(str(kind), "a reviewer agent takes it")
                )
            if task.lease:
                raise InvalidTransition(
                    f"task {task.id}: gate {gate} is already taken by {task.lease.get('holder')}"
                )
            if (meta.get("gate") or {}).get("worker") == holder and holder != GATE_HOLDER:
                raise InvalidTransition(
                    f"task {task.id}: {holder} did the work and may not review it"
                )
            now = self.pipeline.clock.now()
            fence = int(meta.get("fence", 0)) + 1
            meta["fence"] = fence
            secret[:] = [f"{fence}-{self.pipeline.ids.token(TOKEN_CHARS)}"]
            meta["lease"] = {
                "holder": holder,
                "token_sha256": token_sha256(secret[0]),
                "acquired": format_time(now),
                "expires": format_time(now + timedelta(seconds=ttl)),
                "gate": gate,
            }
            return None

        who = Actor("scheduler", "gates") if holder == GATE_HOLDER else Actor("agent", holder)
        task = self.pipeline.change(
            ref,
            "gate_started",
            None,
            mutate,
            actor=who,
            allowed_from=[State.REVIEW],
            reason=f"gate {gate}: "
            + ("run by aof" if holder == GATE_HOLDER else f"review by {holder}"),
        )
        task.meta["lease"] = {**task.meta["lease"], "token": secret[0]}
        return task

    def release(
        self,
        ref: str,
        token: str,
        *,
        reason: str,
        spent: dict[str, Any] | None = None,
        count: bool = True,
    ) -> Task:
        """A gate's work ended without a result (a reviewer that exited without a verdict, a
        gate that could not start): the lease goes, the task waits at the same gate. Gate
        work that ends so :data:`REVIEW_FAILURES_MAX` times blocks the task for a person
        (``count=False``: not its fault, e.g. the daemon running it stopped)."""
        step = 1 if count else 0
        blocked = False

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            nonlocal blocked
            self.pipeline.check_token(task, token, self.pipeline.actor)
            meta.pop("lease", None)
            if spent:
                from .outcomes import add_spent

                add_spent(meta, spent)
            gate = dict(meta.get("gate") or {})
            gate["failures"] = int(gate.get("failures") or 0) + step
            meta["gate"] = _ordered_gate(gate)
            if count and gate["failures"] >= REVIEW_FAILURES_MAX:
                blocked = True
                meta["blocked"] = {
                    "reason": f"gate {gate.get('current')}: {gate['failures']} runs ended "
                    f"without a result (last: {reason}): a person decides",
                    "by": str(self.pipeline.actor),
                    "at": self.pipeline.now(),
                }
            return append_section(task.body, "Work Log", self.pipeline.note(f"gate: {reason}"))

        task = self.pipeline.tasks.load(ref)
        failures = int((task.meta.get("gate") or {}).get("failures") or 0) + step
        target = State.BLOCKED if count and failures >= REVIEW_FAILURES_MAX else None
        return self.pipeline.change(
            ref,
            "gate_released",
            target,
            mutate,
            allowed_from=[State.REVIEW],
            reason=reason,
            event="rejected_cap" if target else None,
        )

    # --- results ------------------------------------------------------------------------

    def record_command(self, ref: str, token: str, result: dict[str, Any]) -> Task:
        """The result of a command gate aof ran (``result``: gate, sha, exit_code,
        duration_s, log, tail, and error when it could not run): a pass moves on, a
        failure is a rejection with the output's last lines as feedback."""
        passed = result.get("exit_code") == 0 and not result.get("error")
        entry = {
            "gate": result["gate"],
            "kind": "command",
            "outcome": "passed" if passed else "rejected",
            "sha": result.get("sha"),
            "exit_code": result.get("exit_code"),
            "duration_s": result.get("duration_s"),
            "log": result.get("log"),
        }
        if passed:
            return self._pass(ref, token, result["gate"], entry, None)
        why = result.get("error") or f"exited with {result.get('exit_code')}"
        tail = str(result.get("tail") or "").rstrip()
        sha = str(result.get("sha") or "")[:12] or "no commit"
        feedback = f"gate {result['gate']} failed on {sha}: {why}"
        if tail:
            feedback += f"\n\nIts last {FEEDBACK_LINES} lines of output:\n\n```\n{tail}\n```"
        return self._reject(ref, token, entry, feedback, reason=f"gate {result['gate']}: {why}")

    def approve(self, ref: str, *, token: str | None = None, note: str | None = None) -> Task:
        """Pass the task's current review gate (a reviewer with its token, or a person)."""
        task = self.pipeline.tasks.load(ref)
        gate = self._review_gate(task, token)
        entry = {"gate": gate, "kind": (task.meta.get("gate") or {}).get("kind", "human")}
        entry["outcome"] = "passed"
        entry["sha"] = self.head_of(task)
        return self._pass(ref, token, gate, entry, note)

    def reject(self, ref: str, *, feedback: str, token: str | None = None) -> Task:
        """Send the work under review back with ``feedback`` (a reviewer or a person)."""
        if not feedback or not feedback.strip():
            raise ValidationError("feedback: a rejection needs feedback for the next attempt")
        task = self.pipeline.tasks.load(ref)
        gate = self._review_gate(task, token)
        entry = {"gate": gate, "kind": (task.meta.get("gate") or {}).get("kind", "human")}
        entry.update(outcome="rejected", sha=self.head_of(task))
        text = f"{gate}: {defused(feedback.strip())}"
        return self._reject(ref, token, entry, text, reason=feedback.strip())

    def _review_gate(self, task: Task, token: str | None) -> str:
        if task.state != State.REVIEW:
            raise InvalidTransition(f"task {task.id} is {task.state.value}, not in review")
        gate = task.meta.get("gate") or {}
        if not gate.get("current"):
            raise InvalidTransition(
                f"task {task.id} is in review at no gate of a workflow (moved there by hand?): "
                f"move it on with `aof task move {task.id} done` or `ready`"
            )
        if gate.get("kind") == "pr":
            raise InvalidTransition(
                f"task {task.id} is at pr gate {gate.get('current')}: its pull request decides "
                f"(merge or close it on the forge: {(gate.get('pr') or {}).get('url')})"
            )
        if gate.get("kind") == "command":
            raise InvalidTransition(
                f"task {task.id} is at command gate {gate.get('current')}: aof runs it and its "
                "exit status decides (a person may still `aof task move` the task)"
            )
        if token is None and self.pipeline.actor.kind == "agent":
            raise LeaseError(
                f"task {task.id}: a reviewer passes its lease token (--token / AOF_LEASE_TOKEN)"
            )
        return str(gate.get("current") or "review")

    def _pass(
        self, ref: str, token: str | None, gate: str, entry: dict[str, Any], note: str | None
    ) -> Task:
        task = self.pipeline.tasks.load(ref)
        workflow = self.workflow_of(task)
        head = self.head_of(task)
        nxt = self._advance(task.meta, workflow, entry, head)[1]

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_gate_token(task, token, gate)
            meta.pop("lease", None)
            meta["gate"], again = self._advance(meta, workflow, entry, head)
            if _name(again) != _name(nxt):
                raise InvalidTransition(f"task {task.id}: its gates changed meanwhile; try again")
            if note:
                return append_section(task.body, "Review", self.pipeline.note(f"approved: {note}"))
            return None

        return self.pipeline.change(
            ref,
            "gate_passed" if entry["kind"] == "command" else "approved",
            State.DONE if nxt is None else None,
            mutate,
            allowed_from=[State.REVIEW],
            reason=note or f"gate {gate} passed" + (f"; next: {nxt.name}" if nxt else ""),
            event="review_waiting" if nxt is not None and nxt.kind == "human" else None,
        )

    def _advance(
        self,
        meta: dict[str, Any],
        workflow: Workflow | None,
        entry: dict[str, Any],
        head: str | None,
    ) -> tuple[dict[str, Any], Gate | None]:
        """The task's ``gate`` after ``entry`` (a pass) is recorded, and the gate it goes
        to next (None: every gate is satisfied, the task is done)."""
        state = dict(meta.get("gate") or {})
        state["history"] = [*state.get("history", []), self._entry(entry, state)]
        state.pop("failures", None)
        after = {**meta, "gate": state}
        nxt = self.next_gate(workflow, after, head) if workflow else None
        if nxt is not None:
            self._enter(after, nxt)
            return after["gate"], nxt
        kept = {k: v for k, v in state.items() if k in KEPT}
        return _ordered_gate(kept), None

    def _reject(
        self, ref: str, token: str | None, entry: dict[str, Any], feedback: str, *, reason: str
    ) -> Task:
        task = self.pipeline.tasks.load(ref)
        cap = self.max_rejections(task)
        count = own_rejections(task.meta) + 1
        target = State.BLOCKED if count >= cap else State.READY

        def mutate(task: Task, meta: dict[str, Any]) -> str | None:
            self._check_gate_token(task, token, str(entry["gate"]))
            meta.pop("lease", None)
            state = dict(meta.get("gate") or {})
            history = [*state.get("history", []), self._entry(entry, state)]
            meta["gate"] = _ordered_gate({**{k: state.get(k) for k in KEPT}, "history": history})
            meta.pop("retry_after", None)  # a rejection goes back at once
            if target == State.BLOCKED:
                meta["blocked"] = {
                    "reason": f"rejected {count} time(s) (max_rejections {cap}): a person decides",
                    "by": str(self.pipeline.actor),
                    "at": self.pipeline.now(),
                }
            return append_section(task.body, "Feedback", self.pipeline.note(feedback))

        return self.pipeline.change(
            ref,
            "rejected",
            target,
            mutate,
            allowed_from=[State.REVIEW],
            reason=reason,
            event="rejected_cap" if target == State.BLOCKED else "rejected",
        )

    def _entry(self, entry: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        out = {"gate": entry["gate"], "kind": entry.get("kind"), "round": state.get("round")}
        out["outcome"] = entry["outcome"]
        for key in ("sha", "exit_code", "duration_s", "log"):
            if entry.get(key) is not None:
                out[key] = entry[key]
        out.update(by=str(self.pipeline.actor), at=self.pipeline.now())
        return out

    def _check_gate_token(self, task: Task, token: str | None, gate: str) -> None:
        """The gate's lease holder passes its token; a person may decide a review without
        one (a reviewer's run that holds the lease is overridden: its verdict is refused)."""
        current = (task.meta.get("gate") or {}).get("current")
        if current != gate:
            raise InvalidTransition(f"task {task.id} is at gate {current!r}, not {gate!r}")
        if token is None and self.pipeline.actor.kind != "agent":
            return
        self.pipeline.check_token(task, token, self.pipeline.actor)
        kind = (task.meta.get("gate") or {}).get("kind")
        if kind == "command" and (task.lease or {}).get("holder") != GATE_HOLDER:
            raise LeaseError(f"task {task.id}: only aof records the result of command gate {gate}")
        held = (task.lease or {}).get("gate")
        if held is not None and held != gate:
            raise LeaseError(f"task {task.id}: the lease is for gate {held}, not {gate}")


def load_workflow(root: Path, name: str, rel: str) -> Workflow:
    """``workflows/<name>.yaml`` of ``root``, parsed; ValidationError naming the file (and
    ``rel``, the task that named it, when the file is missing)."""
    from ..model.config import read_yaml_file
    from ..model.task import SLUG_RE

    if not SLUG_RE.match(name):
        raise ValidationError(f"{rel}: workflow: {name!r} is not a workflow name")
    path = root / "workflows" / f"{name}.yaml"
    if not path.is_file():
        raise ValidationError(f"{rel}: workflow: no file workflows/{name}.yaml")
    return parse(name, read_yaml_file(path), f"workflows/{name}.yaml")


def _name(gate: Gate | None) -> str | None:
    return gate.name if gate is not None else None


GATE_KEY_ORDER = (
    "current", "kind", "role", "agent", "capabilities", "merge", "method", "approvals", "round",
    "worker", "failures", "notified", "pr", "history",
)  # fmt: skip


def _ordered_gate(state: dict[str, Any]) -> dict[str, Any]:
    known = {k: state[k] for k in GATE_KEY_ORDER if state.get(k) is not None}
    return {**known, **{k: v for k, v in state.items() if k not in known and v is not None}}


def own_rejections(meta: dict[str, Any]) -> int:
    """The rejections ``max_rejections`` caps: by gates and reviewers (a pull request's
    reactions send work back under budgets of their own, ``reactions.*.retries``)."""
    history = (meta.get("gate") or {}).get("history") or []
    return sum(
        1
        for h in history
        if isinstance(h, dict) and h.get("outcome") == "rejected" and h.get("kind") != "pr"
    )
