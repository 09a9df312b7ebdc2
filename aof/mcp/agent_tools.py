"""The agent profile: find work, claim it, keep the lease, report, ask, hand off.

Task and token arguments are optional: they default to the caller's last claim through
this server, else to ``AOF_TASK_ID`` / ``AOF_LEASE_TOKEN`` of the environment aof's runner
gives its agents (aof.mcp.callers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from .server import ReasonArg
from .shapes import Beat, Board, Claimed, Next, TaskRef, TaskView, row

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .callers import Caller
    from .server import Tools

TaskArg = Annotated[str | None, Field(description="Task id (default: your claimed task)")]
TokenArg = Annotated[str | None, Field(description="Lease token (default: your claim's)")]
ReviewToken = Annotated[str | None, Field(description="Your review's lease token")]
Priority = Literal["critical", "high", "normal", "low"]


def register(t: Tools) -> None:
    """The agent profile's tools, in the order ``tools/list`` shows them."""
    _claim_tools(t)
    _report_tools(t)
    _gate_tools(t)
    _task_tools(t)


def _ref(t: Tools, task: Any) -> TaskRef:
    return TaskRef(id=task.id, title=task.title, state=task.state.value, path=t.rel(task))


def _claim_tools(t: Tools) -> None:
    """Find work, claim it, keep the lease."""

    @t.tool(read_only=True)
    def aof_next(
        ctx: Context,
        agent: Annotated[str | None, Field(description="Agent name (default: you)")] = None,
    ) -> Next:
        """The task the scheduler would give you next (nothing is claimed)."""

        def run(fleet: Fleet, caller: Caller) -> Next:
            found = fleet.next_task(agent or t.agent_name(caller))
            task = found["task"]
            return Next(task=row(task) if task else None, reason=found["reason"])

        return t.call(ctx, run)

    @t.tool()
    def aof_claim(
        ctx: Context,
        task: Annotated[str | None, Field(description="Task id (default: your next task)")] = None,
        reason: ReasonArg = None,
    ) -> Claimed:
        """Claim a ready task (or your next one). Keep the returned token: complete needs it."""

        def run(fleet: Fleet, caller: Caller) -> Claimed:
            from ..errors import NotFound

            name = t.agent_name(caller)
            if task is None:
                found = fleet.next_task(name, claim=True)
                if found["task"] is None:
                    raise NotFound(found["reason"])
                summary = found["task"]
            else:
                summary = fleet.task_json(fleet.claim(task, name), body=False)
            lease = summary["lease"]
            t.callers.remember_claim(caller, summary["id"], str(lease["token"]))
            return Claimed(task=row(summary), token=lease["token"], expires=lease["expires"])

        return t.call(ctx, run, reason)

    @t.tool(idempotent=True)
    def aof_heartbeat(ctx: Context, task: TaskArg = None, token: TokenArg = None) -> Beat:
        """Renew your lease on a task you are working on."""

        def run(fleet: Fleet, caller: Caller) -> Beat:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_task(caller, fleet, tid)
            if tok is None:
                from ..errors import LeaseError

                raise LeaseError(f"task {tid}: a heartbeat needs the lease token")
            beat = fleet.heartbeat(tid, tok)
            return Beat(id=beat["id"], expires=beat["expires"])

        return t.call(ctx, run)


def _report_tools(t: Tools) -> None:
    """Report on a held task: progress, done, a question."""

    @t.tool()
    def aof_progress(
        ctx: Context,
        note: Annotated[str, Field(description="What you did or found")],
        task: TaskArg = None,
        token: TokenArg = None,
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Add a line to the task's work log (also renews your lease)."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_task(caller, fleet, tid)
            return _ref(t, fleet.progress(tid, note=note, token=tok))

        return t.call(ctx, run, reason)

    @t.tool()
    def aof_complete(
        ctx: Context,
        summary: Annotated[str, Field(description="What was done")],
        outputs: Annotated[list[str], Field(description="Files, branches or links produced")] = [],  # noqa: B006 (pydantic copies defaults)
        task: TaskArg = None,
        token: TokenArg = None,
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Report your task done (to review if its workflow has gates)."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_task(caller, fleet, tid)
            return _ref(t, fleet.complete(tid, token=tok, summary=summary, outputs=outputs))

        return t.call(ctx, run, reason)

    @t.tool()
    def aof_ask(
        ctx: Context,
        question: Annotated[str, Field(description="What a person must answer")],
        task: TaskArg = None,
        token: TokenArg = None,
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Block your task on a question; you are started again with the answer."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_task(caller, fleet, tid)
            return _ref(t, fleet.block(tid, question=question, token=tok))

        return t.call(ctx, run, reason)


def _gate_tools(t: Tools) -> None:
    """A reviewer's verdict at a review gate, with its gate lease's token."""

    @t.tool()
    def aof_gate_approve(
        ctx: Context,
        task: str,
        feedback: Annotated[str | None, Field(description="A note")] = None,
        token: ReviewToken = None,
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Approve the work you review."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_review(caller, fleet, tid, tok)
            return _ref(t, fleet.approve(tid, note=feedback, token=tok))

        return t.call(ctx, run, reason)

    @t.tool()
    def aof_gate_reject(
        ctx: Context,
        task: str,
        feedback: Annotated[str, Field(description="What to change")],
        token: ReviewToken = None,
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Send the work you review back to its agent."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            tid, tok = t.callers.task_and_token(caller, task, token)
            tid = t.callers.own_review(caller, fleet, tid, tok)
            return _ref(t, fleet.reject(tid, feedback=feedback, token=tok))

        return t.call(ctx, run, reason)


def _task_tools(t: Tools) -> None:
    """Hand off a new task, read one, read the board."""

    @t.tool()
    def aof_create(
        ctx: Context,
        title: str,
        body: Annotated[str | None, Field(description="Markdown: objective, criteria")] = None,
        priority: Priority | None = None,
        team: str | None = None,
        project: str | None = None,
        parent: Annotated[str | None, Field(description="Parent task id (a hand-off)")] = None,
        depends_on: list[str] = [],  # noqa: B006
        labels: list[str] = [],  # noqa: B006
        agent: Annotated[str | None, Field(description="Route to this agent")] = None,
        ready: Annotated[bool, Field(description="Ready now, not backlog")] = False,
        sla: Annotated[
            list[str],
            Field(
                description="How long it may stay in a state: ['4h'] (each of ready, "
                "in-progress, review) or per state ['review=1d', 'ready=2h']"
            ),
        ] = [],  # noqa: B006
        reason: ReasonArg = None,
    ) -> TaskRef:
        """Create a task, or hand off a child task of yours (parent, depends_on, agent)."""

        def run(fleet: Fleet, caller: Caller) -> TaskRef:
            created = fleet.create_task(
                title,
                priority=priority,
                team=team,
                project=project,
                depends_on=depends_on,
                labels=labels,
                parent=parent,
                body=body,
                ready=ready,
                fields={"routing": {"agent": agent}} if agent else None,
                sla=sla,
            )
            return _ref(t, created)

        return t.call(ctx, run, reason)

    @t.tool(read_only=True)
    def aof_task(ctx: Context, task: Annotated[str, Field(description="Task id")]) -> TaskView:
        """One task: its frontmatter and Markdown body."""

        def run(fleet: Fleet, caller: Caller) -> TaskView:
            found = fleet.get_task(task)
            return TaskView(
                id=found.id,
                title=found.title,
                state=found.state.value,
                path=t.rel(found),
                meta=found.meta,
                body=found.body,
            )

        return t.call(ctx, run)

    @t.tool(read_only=True)
    def aof_board(
        ctx: Context,
        team: str | None = None,
        limit: Annotated[int, Field(ge=0, description="Tasks per column (0: all)")] = 20,
    ) -> Board:
        """Task counts by state and the open tasks in each column, most urgent first."""

        def run(fleet: Fleet, caller: Caller) -> Board:
            data = fleet.board(team=team, invalid=False)  # a TaskRow is a valid task
            columns = {
                state: [row(r) for r in (rows[:limit] if limit else rows)]
                for state, rows in data["columns"].items()
            }
            return Board(counts=data["counts"], columns=columns)

        return t.call(ctx, run)
