"""Agent sessions: spawn coder agents on branches at once, steer them, watch them, stop them.

An agent session is a task (label ``session``, its ``branch`` and, for fan-outs, its
``batch`` in the frontmatter) that is created ready, claimed and started at once, without
waiting for the daemon, in a worktree of its project on that branch. Everything else about
it is an ordinary run: the same supervisor, logs, outcomes and audit trail, and a running
daemon adopts it like any other run.

An agent is named by its branch or its task id (a unique prefix works).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import format_time
from ..errors import (
    AofError,
    ClaimConflict,
    ConfigError,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from ..model.task import BRANCH_RE, TERMINAL, State, Task
from . import launch, worktrees
from .executor import LocalExecutor, RunStatus, attempts, read_json, read_outcome, write_outcome

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

    def __init__(self, fleet: Fleet, executor: LocalExecutor | None = None) -> None:
        self.fleet = fleet
        self.executor = executor or LocalExecutor(fleet.root, fleet.clock)

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
            from .tmux import check_version

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
        return self._run(task, project, quick=quick, tmux=tmux)

    def _run(
        self,
        task: Task,
        project: dict[str, Any] | None,
        *,
        quick: bool,
        session_id: str | None = None,
        tmux: bool | None = None,
    ) -> dict[str, Any]:
        f = self.fleet
        branch = worktrees.branch_for(task.id, task.meta)
        holder = holder_for(branch)
        try:
            task = f.claim(task.id, holder)
        except ClaimConflict as exc:
            # The daemon was quicker: it runs the same task with the same coder and prompt.
            return {"task": task.id, "branch": branch, "started": False, "note": str(exc)}
        coder, model = launch.coder_and_model(f, task, None, project)
        token = str((task.lease or {})["token"])
        try:
            spec = launch.run_spec(
                f,
                task,
                coder=coder,
                holder=holder,
                model=model,
                project=project,
                quick=quick,
                session_id=session_id,
                tmux=tmux,
            )
            status = self.executor.submit(spec)
        except (OSError, AofError) as exc:
            f.settle_run(task.id, token, outcome="start-failed", reason=f"could not start: {exc}")
            raise AofError(f"agent {branch} ({task.id}): could not start {coder}: {exc}") from None
        return {
            "task": task.id,
            "branch": branch,
            "batch": task.meta.get("batch"),
            "coder": coder,
            "model": model,
            "run": status.run_id,
            "pid": status.pid,
            "worktree": (spec.worktree or {}).get("path"),
            "tmux": spec.tmux,
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
        runs = attempts(self.fleet.root, task_id)
        return self.fleet.root / "runs" / task_id / str(runs[-1]) if runs else None

    def session_of(self, task_id: str) -> str | None:
        """The coder's conversation id of the task's latest run (to resume it)."""
        base = self.fleet.root / "runs" / task_id
        for n in reversed(attempts(self.fleet.root, task_id)):
            data = read_outcome(base / str(n))  # sealed: never what the agent left behind
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
            row = self._run(child, project, quick=quick, session_id=session)
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
        row = self._run(f.get_task(task.id), project, quick=quick, session_id=session)
        return {**row, "resumed": session}

    def pane_of(self, run: RunStatus) -> dict[str, Any] | None:
        """The tmux session of a live run in tmux mode (None: headless)."""
        from .tmux import info

        return info(self.fleet.root / "runs" / run.task_id / str(run.attempt))

    def _type(self, task: Task, run: RunStatus, pane: dict[str, Any], text: str) -> dict[str, Any]:
        """Type a prompt into a live tmux session; the task's work log records it."""
        from .tmux import TmuxError, send

        try:
            send(pane["socket"], pane["session"], text.strip())
        except TmuxError as exc:
            raise AofError(f"agent {task.id}: could not type into its session: {exc}") from None
        # The person acts on a task their agent holds: an explicit, audited override.
        with self.fleet.overriding("typed into the agent's session"):
            self.fleet.progress(task.id, note=f"typed into the agent's session: {text.strip()}")
        return {
            "task": task.id,
            "branch": worktrees.branch_for(task.id, task.meta),
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
        return task, run_dir, tail_events(run_dir, lines)

    def follow(self, ref: str, *, raw: bool = False, poll_s: float = 0.25) -> Iterator[str]:
        """New log lines of the agent's latest run as they come, until the run ends."""
        task = self.find(ref)
        run_dir = self.last_run_dir(task.id)
        if run_dir is None:
            return
        names = ("stdout.log", "stderr.log") if raw else ("events.jsonl",)
        offsets = {n: _size(run_dir / n) for n in names}
        while True:
            ended = (run_dir / "outcome.json").exists()
            for name in names:
                path = run_dir / name
                size = _size(path)
                if size > offsets[name]:
                    with open(path, "rb") as fh:
                        fh.seek(offsets[name])
                        chunk = fh.read(size - offsets[name])
                    offsets[name] = size
                    for line in chunk.decode("utf-8", errors="replace").splitlines():
                        yield line if raw else render_event(line)
            if ended:
                return
            time.sleep(poll_s)

    def listing(self, *, all_sessions: bool = False) -> list[dict[str, Any]]:
        """Live runs and open agent sessions with state, CPU, memory, elapsed, idle, tokens
        and cost (one pass over the process table)."""
        runs = self.reap(self.executor.runs())
        procs = _process_table() if any(r.state == "running" for r in runs) else {}
        now = time.time()
        rows: dict[str, dict[str, Any]] = {}
        metas = {r["id"]: r for r in self.fleet.list_tasks()}
        for run in runs:
            meta = metas.get(run.task_id) or {}
            run_dir = self.fleet.root / "runs" / run.task_id / str(run.attempt)
            meter = read_json(run_dir / "meter.json") or {}
            pane = self.pane_of(run) if run.state == "running" else None
            usage = _usage_of(run.pid, procs, now) if run.state == "running" else _no_usage()
            if pane and pane.get("pane_pid"):  # the coder lives under the tmux server
                usage = _add_usage(usage, _usage_of(int(pane["pane_pid"]), procs, now))
            row = {
                "agent": meta.get("branch") or run.task_id,
                "task": run.task_id,
                "branch": meta.get("branch") or f"aof/{run.task_id}",
                "batch": meta.get("batch"),
                "title": meta.get("title"),
                "coder": run.coder,
                "run": run.run_id,
                "state": "running" if run.state == "running" else (run.outcome or "exited"),
                "pid": run.pid,
                "tmux": pane["session"] if pane else None,
                **usage,
                "idle_s": _idle(run_dir, meter, now) if run.state == "running" else None,
                "tokens": int(meter.get("tokens") or 0),
                "cost_usd": float(meter.get("cost_usd") or 0.0),
            }
            old = rows.get(run.task_id)
            if old is None or run.state == "running" or old["state"] != "running":
                rows[run.task_id] = row
        for tid, meta in metas.items():
            if tid in rows or SESSION_LABEL not in (meta.get("labels") or []):
                continue
            if meta["state"] in {s.value for s in TERMINAL} and not all_sessions:
                continue
            last = self.last_run_dir(tid)
            outcome = read_outcome(last) if last else None
            rows[tid] = {
                "agent": meta.get("branch") or tid,
                "task": tid,
                "branch": meta.get("branch") or f"aof/{tid}",
                "batch": meta.get("batch"),
                "title": meta.get("title"),
                "coder": meta.get("coder")
                or ((read_json(last / "run.json") or {}).get("coder") if last else None),
                "run": f"{tid}.{last.name}" if last else None,
                "state": meta["state"],
                "pid": None,
                "tmux": None,
                **_no_usage(),
                "idle_s": None,
                "tokens": int((outcome or {}).get("tokens") or 0),
                "cost_usd": float((outcome or {}).get("cost_usd") or 0.0),
            }
        return sorted(rows.values(), key=lambda r: (str(r.get("batch") or ""), str(r["agent"])))

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
        import psutil

        from .executor import descendants
        from .shim import kill_tree

        metas = {r["id"]: r for r in self.fleet.list_tasks(states=[s.value for s in State])}
        targets = []
        for run in self.executor.runs():
            if run.state != "running":
                continue
            meta = metas.get(run.task_id) or {}
            branch = str(meta.get("branch") or f"aof/{run.task_id}")
            if batch and meta.get("batch") != batch:
                continue
            if pattern and not (
                fnmatch.fnmatchcase(branch, pattern) or fnmatch.fnmatchcase(run.task_id, pattern)
            ):
                continue
            targets.append((run, branch))
        by = str(self.fleet.actor)
        # The caller's reason travels to the run's supervisor, which records the kill.
        why = {"reason": self.fleet.audit.reason} if self.fleet.audit.reason else {}
        grace = float((self.fleet.config.data.get("runner") or {}).get("kill_grace_s") or 5)
        tree: dict[str, list[int]] = {}
        for run, _branch in targets:
            run_dir = self.fleet.root / "runs" / run.task_id / str(run.attempt)
            (run_dir / "kill.json").write_text(
                json.dumps(
                    {"by": by, "at": format_time(self.fleet.clock.now()), "force": force, **why}
                )
                + "\n",
                encoding="utf-8",
            )
            tree[run.run_id] = [run.pid, *descendants(run.pid)] if run.pid else []
            tree[run.run_id] += self.executor.pane_pids(run.run_id)
            self.executor.cancel(run.run_id, force=force)
        deadline = time.monotonic() + (wait_s if wait_s is not None else grace + 10)
        out = []
        for run, branch in targets:
            pids = tree[run.run_id]
            procs = []
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    procs.append(psutil.Process(pid))
            _, alive = psutil.wait_procs(procs, timeout=max(deadline - time.monotonic(), 0.1))
            left = []
            for p in alive:  # past the deadline: no mercy, and no orphans
                left.extend(kill_tree(p.pid, 0.5))
            if force:
                self._settle_forced(run)
            out.append(
                {
                    "agent": branch,
                    "task": run.task_id,
                    "run": run.run_id,
                    "pids": pids,
                    "stopped": not left,
                    "left": left,
                }
            )
        return out

    def _settle_forced(self, run: RunStatus) -> None:
        """After SIGKILL the supervisor could not settle: record the kill here."""
        reason = f"stopped by {self.fleet.actor} (aof agent kill --force)"
        result: dict[str, Any] = {"outcome": "killed", "reason": reason, "exit_code": -9}
        try:
            task, final = self.fleet.settle_run(
                run.task_id, run.token, outcome="killed", reason=reason
            )
            result.update(outcome=final, task_state=task.state.value, settled=True)
        except AofError as exc:
            result.update(settled=False, settle_error=str(exc))
        write_outcome(self.fleet.root / "runs" / run.task_id / str(run.attempt), result)

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


# --- worktrees ---------------------------------------------------------------------------------


def list_worktrees(fleet: Fleet, task_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every worktree under the runner's directory (or those of ``task_ids``), with its
    task's state and live pids."""
    directory = worktrees.worktrees_dir(fleet.root, fleet.config.data)
    if task_ids is None:
        trees = worktrees.scan(directory)
    else:
        trees = [worktrees.read(directory / t) for t in task_ids if (directory / t).is_dir()]
    if not trees:
        return []
    states = fleet.tasks.states_of([t.task_id for t in trees])
    live = worktrees.live_pids([t.path for t in trees])
    running = _running_tasks(fleet)
    return [
        {
            **t.to_json(),
            "state": states.get(t.task_id, "missing"),
            "pids": live[t.path],
            "live": bool(live[t.path]) or t.task_id in running,
        }
        for t in trees
    ]


def prune_worktrees(
    fleet: Fleet, *, task_ids: Sequence[str] | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Remove the worktrees of tasks that are done, cancelled or gone, unless a process is
    alive in one (then it is kept, and said so). Branches stay."""
    out = []
    for row in list_worktrees(fleet, task_ids):
        finished = row["state"] in ("done", "cancelled", "missing")
        if not row["ours"]:
            action, reason = "kept", "not a worktree aof made"
        elif not finished:
            action, reason = "kept", f"task is {row['state']}"
        elif row["live"]:
            pids = ", ".join(str(p) for p in row["pids"]) or "a live run"
            action, reason = "kept", f"an agent is alive in it ({pids})"
        elif dry_run:
            action, reason = "would-remove", f"task is {row['state']}"
        else:
            worktrees.remove(worktrees.read(Path(row["path"])))
            action, reason = "removed", f"task is {row['state']}"
        out.append({**row, "action": action, "reason": reason})
    return out


def _running_tasks(fleet: Fleet) -> set[str]:
    executor = LocalExecutor(fleet.root, fleet.clock)
    return {r.task_id for r in executor.runs() if r.state == "running"}


# --- helpers -------------------------------------------------------------------------------------


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _idle(run_dir: Path, meter: dict[str, Any], now: float) -> float:
    newest = max(_mtime(run_dir / n) for n in ("stdout.log", "stderr.log", "run.json"))
    return round(max(now - newest, 0.0), 1)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _process_table() -> dict[int, dict[str, Any]]:
    import psutil

    table: dict[int, dict[str, Any]] = {}
    for p in psutil.process_iter(["pid", "ppid", "cpu_times", "memory_info", "create_time"]):
        table[p.info["pid"]] = p.info
    return table


def _usage_of(pid: int | None, table: dict[int, dict[str, Any]], now: float) -> dict[str, Any]:
    """CPU (average over its life) and memory of a run's whole process tree."""
    if pid is None or pid not in table:
        return _no_usage()
    children: dict[int, list[int]] = {}
    for p, info in table.items():
        children.setdefault(info.get("ppid") or 0, []).append(p)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    cpu = rss = 0.0
    for p in tree:
        info = table[p]
        times = info.get("cpu_times")
        if times is not None:
            cpu += times.user + times.system
        mem = info.get("memory_info")
        if mem is not None:
            rss += mem.rss
    elapsed = max(now - float(table[pid].get("create_time") or now), 0.001)
    return {
        "cpu_pct": round(100 * cpu / elapsed, 1),
        "mem_mb": round(rss / 2**20, 1),
        "elapsed_s": round(elapsed, 1),
        "procs": len(tree),
    }


def _add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a["cpu_pct"] is None:
        return b
    if b["cpu_pct"] is None:
        return a
    return {
        "cpu_pct": round(a["cpu_pct"] + b["cpu_pct"], 1),
        "mem_mb": round(a["mem_mb"] + b["mem_mb"], 1),
        "elapsed_s": a["elapsed_s"],
        "procs": a["procs"] + b["procs"],
    }


def _no_usage() -> dict[str, Any]:
    return {"cpu_pct": None, "mem_mb": None, "elapsed_s": None, "procs": 0}


def render_event(line: str) -> str:
    """One events.jsonl line for people."""
    try:
        e = json.loads(line)
    except ValueError:
        return line
    ts = str(e.get("ts", ""))[11:19]
    kind = e.get("event")
    if kind == "text":
        return f"{ts} {e.get('text')}"
    if kind == "tool":
        return f"{ts} [{e.get('tool')}] {e.get('input') or ''}".rstrip()
    if kind == "usage":
        cost = f", ${e['cost_usd']:.4f}" if e.get("cost_usd") is not None else ""
        total = " (total)" if e.get("cumulative") else ""
        return f"{ts} usage{total}: {e.get('tokens_in')} in, {e.get('tokens_out')} out{cost}"
    rest = {k: v for k, v in e.items() if k not in ("ts", "event", "task", "attempt")}
    return f"{ts} {kind}: " + ", ".join(f"{k}={v}" for k, v in rest.items())


def tail_events(run_dir: Path, lines: int) -> str:
    try:
        text = (run_dir / "events.jsonl").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(render_event(x) for x in text.splitlines()[-lines:])
