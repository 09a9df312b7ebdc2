"""Agent sessions: spawn coder agents on branches at once, steer them, watch them, stop them.

An agent session is a task (label ``session``, its ``branch`` and, for fan-outs, its
``batch`` in the frontmatter) that is created ready, claimed and started at once, without
waiting for the daemon, in a worktree of its project on that branch. Everything else about
it is an ordinary run: the same supervisor, logs, outcomes and audit trail, and a running
daemon adopts it like any other run.

An agent is named by its branch or its task id (a unique prefix works).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import (
    AofError,
    ClaimConflict,
    ConfigError,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from ..model.branches import BRANCH_RE, branch_for
from ..model.task import TERMINAL, State, Task
from ..store.runfiles import attempts, latest_run_dir, read_outcome
from . import runlogs
from .agent_list import agent_rows
from .dispatch import dispatch
from .executor import LocalExecutor, RunStatus
from .rqexec import HostRouter, executor_for
from .stopping import stop_runs

if TYPE_CHECKING:
    from ..fleet import Fleet

SESSION_LABEL = "session"
TITLE_MAX = 120


def holder_for(branch: str) -> str:
    """The agent name a session's lease and audit records carry (``agent:<name>``)."""
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in branch).strip("-.")
    return (name or "agent")[:64]


def title_for(prompt: str) -> str:
    line = next((x.strip() for x in prompt.splitlines() if x.strip()), "agent session")
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"


class Sessions:
    """The agent-session verbs over one fleet root (the CLI's ``aof agent ...``)."""

    def __init__(self, fleet: Fleet, executor: LocalExecutor | HostRouter | None = None) -> None:
        self.fleet = fleet
        self.executor = executor or executor_for(fleet)

    # --- starting ---------------------------------------------------------------------------

    def _project(self, slug: str | None) -> dict[str, Any] | None:
        rows = self.fleet.registry.rows("project")
        if slug:
            row = next((p for p in rows if p["slug"] == slug), None)
            if row is None:
                known = ", ".join(sorted(p["slug"] for p in rows)) or "none yet"
                raise NotFound(f"project {slug!r} not found (known: {known})")
            return row
        here = Path.cwd().resolve()
        for p in rows:
            root = p.get("root_path")
            if root and (here == Path(root).resolve() or Path(root).resolve() in here.parents):
                return p
        if rows:
            raise ValidationError(
                "--project: name the project the agent works in (known: "
                + ", ".join(sorted(p["slug"] for p in rows))
                + "), or run the command inside a project's directory"
            )
        return None

    def _check_branches(self, branches: Sequence[str]) -> None:
        seen: set[str] = set()
        for b in branches:
            if not BRANCH_RE.match(b):
                raise ValidationError(
                    f"branch {b!r}: not a branch name aof accepts (letters, digits, . _ - /; "
                    "no '..', no leading '-')"
                )
            if b in seen:
                raise ValidationError(f"branch {b!r} is named twice")
            seen.add(b)
        open_states = [s for s in State if s not in TERMINAL]
        taken = {
            str(r.get("branch")): r["id"]
            for r in self.fleet.list_tasks(states=open_states)
            if r.get("branch")
        }
        clash = [f"{b} (task {taken[b]})" for b in branches if b in taken]
        if clash:
            raise InvalidTransition(
                "branch already has an open agent session: "
                + ", ".join(clash)
                + " (`aof agent prompt` steers it; `aof agent kill` stops it)"
            )

    def start_many(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        project: str | None = None,
        coder: str | None = None,
        model: str | None = None,
        quick: bool = False,
        batch: str | None = None,
        tmux: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Create, claim and start one agent per (branch, prompt); one commit for all
        (``tmux``: each in a tmux session people can attach to; default ``runner.tmux``)."""
        if not pairs:
            raise ValidationError("no agents to start")
        for branch, text in pairs:
            if not text.strip():
                raise ValidationError(f"prompt for {branch!r} is empty")
        proj = self._project(project)
        self._check_branches([b for b, _ in pairs])
        f = self.fleet
        from ..coders import resolve as coders

        # No coder, an unknown one, or one whose program is missing: said before any task.
        name = coder or coders.resolve({}, None, proj, f.config.data)[0]
        problem = coders.unavailable(name, f.config.data) if name else coders.NO_CODER
        if problem:
            raise ConfigError(problem)
        if tmux or (tmux is None and (f.config.data.get("runner") or {}).get("tmux")):
            from ..coders.tmuxprogram import check_version

            check_version()  # no tmux: said before any task is made
        what = f"{len(pairs)} agent(s)" + (f" in batch {batch}" if batch else "")
        with f.git.batch(f"agent sessions: {what}", f.actor):
            workers = min(8, len(pairs))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(
                    pool.map(
                        lambda pair: self._start_one(
                            pair[0], pair[1], proj, coder, model, quick, batch, tmux
                        ),
                        pairs,
                    )
                )

    def _start_one(
        self,
        branch: str,
        prompt: str,
        project: dict[str, Any] | None,
        coder: str | None,
        model: str | None,
        quick: bool,
        batch: str | None,
        tmux: bool | None,
    ) -> dict[str, Any]:
        f = self.fleet
        fields: dict[str, Any] = {"branch": branch}
        for key, value in (("batch", batch), ("coder", coder), ("model", model)):
            if value:
                fields[key] = value
        task = f.create_task(
            title_for(prompt),
            project=project["slug"] if project else None,
            team=project.get("team") if project else None,
            labels=[SESSION_LABEL],
            body=f"## Objective\n\n{prompt.strip()}\n",
            ready=True,
            fields=fields,
        )
        return self.start(task, project, quick=quick, tmux=tmux)

    def start(
        self,
        task: Task,
        project: dict[str, Any] | None,
        *,
        quick: bool,
        session_id: str | None = None,
        tmux: bool | None = None,
    ) -> dict[str, Any]:
        """Claim ``task`` (ready) and start its agent now, in ``project``'s worktree: the
        row ``aof agent list`` shows (a session is resumed when ``session_id`` is given)."""
        branch = branch_for(task.id, task.meta)
        try:
            done = dispatch(
                self.fleet,
                self.executor,
                task.id,
                holder_for(branch),
                projects={project["slug"]: project} if project else {},
                quick=quick,
                session_id=session_id,
                tmux=tmux,
            )
        except ClaimConflict as exc:
            # The daemon was quicker: it runs the same task with the same coder and prompt.
            return {"task": task.id, "branch": branch, "started": False, "note": str(exc)}
        if done.spec is None or done.status is None:
            unrecorded = f" (not recorded: {done.unrecorded})" if done.unrecorded else ""
            raise AofError(f"agent {branch} ({task.id}): {done.error}{unrecorded}")
        return {
            "task": task.id,
            "branch": branch,
            "batch": done.task.meta.get("batch"),
            "coder": done.coder,
            "model": done.model,
            "run": done.status.run_id,
            "pid": done.status.pid,
            "worktree": (done.spec.worktree or {}).get("path"),
            "tmux": done.spec.tmux,
            "started": True,
        }

    def new_batch_id(self) -> str:
        return "b-" + self.fleet.ids.token(6)

    # --- finding ----------------------------------------------------------------------------

    def find(self, ref: str) -> Task:
        """An agent by branch (open sessions first, then any) or task id (prefix)."""
        rows = [r for r in self.fleet.list_tasks() if r.get("branch") == ref]
        if rows:
            open_rows = [r for r in rows if r["state"] not in {s.value for s in TERMINAL}]
            row = max(open_rows or rows, key=lambda r: str(r.get("created") or ""))
            return self.fleet.get_task(row["id"])
        try:
            return self.fleet.get_task(ref)
        except NotFound:
            raise NotFound(f"no agent {ref!r}: no task with that branch or id") from None

    def live_run(self, task_id: str) -> RunStatus | None:
        runs = [r for r in self.executor.runs() if r.task_id == task_id and r.state == "running"]
        return max(runs, key=lambda r: r.attempt) if runs else None

    def last_run_dir(self, task_id: str) -> Path | None:
        return latest_run_dir(self.fleet.root, task_id)

    def session_of(self, task_id: str) -> str | None:
        """The coder's conversation id of the task's latest run (to resume it); None when
        that run ended as its context filled (a fresh conversation reads its hand-off)."""
        root = self.fleet.root
        for n in reversed(attempts(root, task_id)):
            data = read_outcome(layout.run_dir(root, task_id, n))  # sealed, never the agent's
            if data and data.get("outcome") in ("context-stopped", "context-exhausted"):
                return None
            if data and data.get("session_id"):
                return str(data["session_id"])
        return None

    # --- steering ---------------------------------------------------------------------------

    def prompt(self, ref: str, text: str, *, quick: bool = True) -> dict[str, Any]:
        """A follow-up instruction: typed into the agent's live tmux session, or a follow-up
        run resuming the coder's conversation (a new child task on the same branch when the
        agent's task is finished)."""
        if not text.strip():
            raise ValidationError("the follow-up prompt is empty")
        f = self.fleet
        task = self.find(ref)
        run = self.live_run(task.id)
        if run is not None:
            pane = self.pane_of(run)
            if pane is None:
                raise InvalidTransition(
                    f"agent {ref} ({task.id}) is still running headless: a follow-up starts "
                    "when this run ends (`aof agent logs -f` to watch, `aof agent kill` to stop "
                    "it; agents started with --tmux take typed prompts)"
                )
            return self._type(task, run, pane, text)
        session = self.session_of(task.id)
        project = self._project(task.meta.get("project")) if task.meta.get("project") else None
        note = f"Follow-up: {text.strip()}"
        if task.state == State.IN_PROGRESS:
            raise InvalidTransition(
                f"agent {ref} ({task.id}) has no live run but its lease is still held "
                f"(by {(task.lease or {}).get('holder')}); it is given back when the lease "
                "expires, or now with `aof task release`"
            )
        if task.state in TERMINAL:
            fields = {
                k: task.meta[k] for k in ("branch", "batch", "coder", "model") if task.meta.get(k)
            }
            child = f.create_task(
                title_for(text),
                project=task.meta.get("project"),
                team=task.meta.get("team"),
                parent=task.id,
                labels=[SESSION_LABEL],
                body=f"## Objective\n\n{text.strip()}\n\n## Context\n\nA follow-up to "
                f"{task.id} ({task.title}), on the same branch.\n",
                ready=True,
                fields=fields,
            )
            row = self.start(child, project, quick=quick, session_id=session)
            return {**row, "follow_up_of": task.id, "resumed": session}
        if task.state == State.BLOCKED:
            f.answer(task.id, text=text)
        elif task.state == State.REVIEW:
            f.reject(task.id, feedback=note)
        elif task.state == State.DEADLETTER:
            f.resurrect(task.id, reason=note)
        elif task.state == State.BACKLOG:
            f.promote(task.id, reason=note)
        if task.state != State.BLOCKED:
            from ..model.text import append_section

            current = f.get_task(task.id)
            f.edit_task(task.id, body=append_section(current.body, "Follow-ups", f"- {note}"))
        row = self.start(f.get_task(task.id), project, quick=quick, session_id=session)
        return {**row, "resumed": session}

    def pane_of(self, run: RunStatus) -> dict[str, Any] | None:
        """The tmux session of a live run in tmux mode (None: headless)."""
        from .tmux import info

        return info(layout.run_dir(self.fleet.root, run.task_id, run.folder))

    def _type(self, task: Task, run: RunStatus, pane: dict[str, Any], text: str) -> dict[str, Any]:
        """Type a prompt into a live tmux session; the task's work log records it."""
        from ..coders.tmuxprogram import TmuxError
        from .tmux import send

        try:
            send(pane["socket"], pane["session"], text.strip())
        except TmuxError as exc:
            raise AofError(f"agent {task.id}: could not type into its session: {exc}") from None
        # The person acts on a task their agent holds: an explicit, audited override.
        with self.fleet.overriding("typed into the agent's session"):
            self.fleet.progress(task.id, note=f"typed into the agent's session: {text.strip()}")
        return {
            "task": task.id,
            "branch": branch_for(task.id, task.meta),
            "run": run.run_id,
            "typed": True,
            "tmux": {"socket": pane["socket"], "session": pane["session"]},
            "started": False,
        }

    # --- watching ---------------------------------------------------------------------------

    def logs(
        self, ref: str, *, lines: int = 50, raw: bool = False
    ) -> tuple[Task, Path | None, str]:
        """The latest run's last ``lines`` events, rendered (``raw``: the coder's own
        stdout and stderr, through the executor)."""
        task = self.find(ref)
        run_dir = self.last_run_dir(task.id)
        if run_dir is None:
            return task, None, ""
        if raw:
            return task, run_dir, self.executor.logs(f"{task.id}.{run_dir.name}", lines)
        return task, run_dir, runlogs.tail_events(run_dir, lines)

    def follow(self, ref: str, *, raw: bool = False, poll_s: float = 0.25) -> Iterator[str]:
        """New log lines of the agent's latest run as they come, until the run ends."""
        task = self.find(ref)
        run_dir = self.last_run_dir(task.id)
        if run_dir is None:
            return
        names = ("stdout.log", "stderr.log") if raw else ("events.jsonl",)
        yield from runlogs.follow(run_dir, names, raw=raw, poll_s=poll_s)

    def listing(self, *, all_sessions: bool = False) -> list[dict[str, Any]]:
        """Live runs and open agent sessions with state, CPU, memory, elapsed, idle, tokens
        and cost (one pass over the process table; ``all_sessions``: finished ones too)."""
        runs = self.reap(self.executor.runs())
        return agent_rows(self.fleet, runs, label=SESSION_LABEL, all_sessions=all_sessions)

    # --- stopping ---------------------------------------------------------------------------

    def kill(
        self,
        pattern: str | None = None,
        *,
        batch: str | None = None,
        force: bool = False,
        wait_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """Stop every live agent whose branch or task id matches the glob ``pattern`` (or
        that belongs to ``batch``), with its whole process tree; the task is blocked with
        the reason. Waits for them to end and checks that no process is left behind."""
        if not pattern and not batch:
            raise ValidationError("name a PATTERN (a glob over branches and task ids) or --batch")
        metas = {r["id"]: r for r in self.fleet.list_tasks(states=[s.value for s in State])}
        targets = []
        for run in self.executor.runs():
            if run.state != "running":
                continue
            meta = metas.get(run.task_id) or {}
            branch = branch_for(run.task_id, meta)
            if batch and meta.get("batch") != batch:
                continue
            if pattern and not (
                fnmatch.fnmatchcase(branch, pattern) or fnmatch.fnmatchcase(run.task_id, pattern)
            ):
                continue
            targets.append((run, branch))
        return stop_runs(self.fleet, self.executor, targets, force=force, wait_s=wait_s)

    def reap(self, runs: list[RunStatus]) -> list[RunStatus]:
        """Forget the records of runs that ended and were settled, when no daemon runs to
        do it (their logs and outcome stay in runs/); the runs still recorded."""
        from ..store.daemonstate import daemon_info

        if daemon_info(self.fleet.root).get("running"):
            return runs
        kept = []
        for run in runs:
            if run.state == "exited" and run.settled:
                self.executor.forget(run.run_id)
            else:
                kept.append(run)
        return kept

    def attach_argv(self, ref: str, *, read_only: bool = False) -> list[str]:
        """The command that attaches a terminal to the agent's tmux session."""
        from .tmux import attach_argv

        task = self.find(ref)
        run = self.live_run(task.id)
        if run is None:
            raise InvalidTransition(
                f"agent {ref} ({task.id}) is not running ({task.state.value}): "
                f"`aof agent logs {ref}` shows what its last run did"
            )
        pane = self.pane_of(run)
        if pane is None:
            raise InvalidTransition(
                f"agent {ref} ({task.id}) runs headless, not in tmux (start agents with --tmux, "
                f"or set runner.tmux: true): `aof agent logs {ref} -f` follows its output"
            )
        return attach_argv(pane["socket"], pane["session"], read_only=read_only)
