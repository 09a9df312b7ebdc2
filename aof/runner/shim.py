"""The run supervisor: ``python -m aof.runner.shim runs/<task>/<attempt>/run.json``.

One shim per run, started by the executor in a session of its own, so the shim, its coder
and everything the coder starts share one process group that can be signalled as a whole.
It:

1. makes (or reuses) the run's git worktree: setup commands, credential files;
2. starts the coder there, its stdout and stderr into ``stdout.log`` / ``stderr.log``, and
   each line through the coder's adapter into normalized ``events.jsonl``;
3. while it runs: renews the task's lease, keeps ``meter.json`` (tokens, cost, idle time)
   for ``aof agent list``, stops it when a budget (wall clock, tokens, USD) is spent or
   when its context use reaches ``runner.context_stop_pct`` of the window, flags it after
   ``runner.stuck_notify_s`` without output and stops it after ``runner.stuck_kill_s``;
4. when the coder exits: classifies the outcome (usage-limited, context-stopped,
   context-exhausted, killed, over-budget, stuck, or exited and then whatever the agent
   reported), pauses the coder on a usage limit, and settles the task through
   :meth:`aof.Fleet.settle_run` (with a hand-off note for the next attempt when the context
   filled: :mod:`aof.runner.handoff`); the result is ``outcome.json``.

If the shim itself dies, the daemon settles the run from outside (exited without
reporting). Only the standard library is imported before the coder has started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .meter import EventLog, Meter, utc_stamp


class Shim:
    def __init__(self, spec_path: Path) -> None:
        self.spec: dict[str, Any] = json.loads(spec_path.read_text(encoding="utf-8"))
        self.run_dir = spec_path.parent
        s = self.spec
        self.root = Path(s["root"])
        self.task_id, self.token, self.coder = s["task_id"], s["token"], s["coder"]
        self.limits: dict[str, Any] = s.get("limits") or {}
        self.events = EventLog(
            self.run_dir / "events.jsonl", {"task": self.task_id, "attempt": s["attempt"]}
        )
        self.meter = Meter()
        self.meter.model = s.get("model")  # the model asked for, until the coder names one
        self.started = time.monotonic()
        self.started_at = utc_stamp()
        self.stop_reason: tuple[str, str] | None = None
        self.child: Any = None  # subprocess.Popen, or a tmux Pane (tmux mode)
        self.streams: list[tuple[Any, str, bool]] = []  # (stream, log file, is stderr)
        self.reported: str | None = None  # tmux mode: the agent reported, so the pane ends
        self.fleet: Any = None
        self._meter_written = 0.0
        self.start_head: str | None = None  # the worktree's commit when the coder started
        self.said: deque[str] = deque(maxlen=3)  # the model's last messages

    # --- start ----------------------------------------------------------------------------

    def prepare(self) -> str:
        """The coder's working directory: the worktree, made now if needed."""
        wt = self.spec.get("worktree")
        if not wt:
            return str(self.spec.get("cwd") or self.run_dir)
        from .worktrees import copy_credentials, ensure, setup

        path, repo = Path(wt["path"]), Path(wt["repo"])
        made = ensure(path, repo, wt["branch"], wt["base"])
        from .handoff import head_of

        self.start_head = head_of(path)
        copied = copy_credentials(path, repo, wt.get("credential_files") or []) if made else []
        if made and wt.get("setup") and not wt.get("quick"):
            setup(path, list(wt["setup"]), self.run_dir / "setup.log", self.spec.get("env") or {})
        self.events.write(
            {
                "event": "worktree",
                "path": str(path),
                "branch": wt["branch"],
                "created": made,
                "credentials": copied,
                "setup": bool(made and wt.get("setup") and not wt.get("quick")),
            }
        )
        return str(path)

    def start(self, cwd: str) -> None:
        from ..coders.resolve import coder_environment

        run_env = {**(self.spec.get("env") or {}), "AOF_RUN_DIR": str(self.run_dir)}
        env = coder_environment(os.environ, run_env, self.coder, self.spec.get("config") or {})
        wt = self.spec.get("worktree")
        if wt:
            env.update(AOF_WORKTREE=cwd, AOF_BRANCH=wt["branch"])
        pane = self.spec.get("tmux")
        if pane:
            from .tmux import Pane, PaneOutput

            self.child = Pane(
                self.run_dir, pane["socket"], pane["session"], self.spec["argv"], cwd, env
            )
            self.streams = [(PaneOutput(self.child), "stdout.log", False)]
            self.events.write(
                {"event": "process_start", "pid": self.child.pid, "cwd": cwd, "tmux": pane}
            )
            return
        self.child = subprocess.Popen(
            self.spec["argv"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.streams = [
            (self.child.stdout, "stdout.log", False),
            (self.child.stderr, "stderr.log", True),
        ]
        self.events.write({"event": "process_start", "pid": self.child.pid, "cwd": cwd})

    # --- while it runs -------------------------------------------------------------------

    def _pump(self, stream: Any, log_name: str, stderr: bool) -> None:
        from ..coders.resolve import adapter_for

        try:
            parser = adapter_for(self.coder, self.spec.get("config") or {})[0].parser()
        except Exception:
            from ..coders.adapters.base import Parser

            parser = Parser()
        with open(self.run_dir / log_name, "ab") as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                log.flush()
                self.meter.last_output = time.monotonic()
                line = raw.decode("utf-8", errors="replace")
                try:
                    events = parser.feed_stderr(line) if stderr else parser.feed(line)
                except Exception as exc:  # a parser bug must never lose the run
                    events = [{"event": "error", "message": f"parser: {exc!r}"}]
                for event in events:
                    self.meter.take(event)
                    self.events.write(event)
                    if event.get("event") == "text":
                        self.said.append(str(event.get("text") or ""))

    def _write_meter(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._meter_written < 1.0:
            return
        self._meter_written = now
        m = self.meter
        data = {
            "tokens_in": m.tokens_in,
            "tokens_out": m.tokens_out,
            "tokens": m.tokens,
            "cost_usd": round(m.cost, 6),
            "session_id": m.session_id,
            "model": m.model,
            "usage": m.usage(),
            "events": m.events,
            "tools": m.tools,
            "context_pct": m.context_pct,
            "context_peak_pct": m.context_peak_pct,
            "idle_s": round(now - m.last_output, 1),
            "wall_s": round(now - self.started, 1),
            "updated": utc_stamp(),
        }
        from ..files.atomic import write_text

        write_text(self.run_dir / "meter.json", json.dumps(data))

    def _over_budget(self) -> str | None:
        budget = self.limits.get("budget") or {}
        before = self.limits.get("spent") or {}
        wall = time.monotonic() - self.started + float(before.get("wall_s") or 0)
        used = {
            "wall_s": wall,
            "tokens": self.meter.tokens + int(before.get("tokens") or 0),
            "usd": self.meter.cost + float(before.get("usd") or 0),
        }
        for key, fmt in (("wall_s", "{:.0f} s"), ("tokens", "{:,} tokens"), ("usd", "${:.2f}")):
            limit = budget.get(key)
            if limit is not None and used[key] > float(limit):
                what = {"wall_s": "wall-clock", "tokens": "token", "usd": "USD"}[key]
                return (
                    f"over its {what} budget: used {fmt.format(used[key])} of "
                    f"{fmt.format(limit)} (budget.{key})"
                )
        return None

    def _fleet(self) -> Any:
        if self.fleet is None:
            from ..fleet import Fleet
            from ..journal.audit import Actor

            self.fleet = Fleet(self.root, actor=Actor("scheduler", "runner"))
        return self.fleet

    def supervise(self) -> int:
        assert self.child is not None
        child = self.child
        threads = [
            threading.Thread(target=self._pump, args=stream, daemon=True) for stream in self.streams
        ]
        for t in threads:
            t.start()
        ttl = float(self.limits.get("lease_ttl_s") or 900)
        notify_s = float(self.limits.get("stuck_notify_s") or 0)
        kill_s = float(self.limits.get("stuck_kill_s") or 0)
        beat_every = max(min(ttl / 4, 60.0), 0.5)
        last_beat = last_look = time.monotonic()
        flagged = False
        in_tmux = bool(self.spec.get("tmux"))
        while True:
            try:
                code = child.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            self._write_meter()
            if self.stop_reason is not None or self.reported is not None:
                continue
            over = self._over_budget()
            if over:
                self.stop("over-budget", over)
                continue
            full = self.meter.context_over(self.limits.get("context_stop_pct"))
            if full:
                self.stop("context-stopped", full)
                continue
            idle = time.monotonic() - self.meter.last_output
            if kill_s and idle >= kill_s:
                self.stop("stuck", f"no output for {idle:.0f} s (runner.stuck_kill_s {kill_s:g})")
                continue
            if notify_s and idle >= notify_s and not flagged:
                flagged = True
                self._flag_stuck(idle)
            if time.monotonic() - last_beat >= beat_every:
                last_beat = time.monotonic()
                self._beat()
            if in_tmux and time.monotonic() - last_look >= 1.0:
                # An interactive coder waits at its prompt after the agent reported: the
                # report ends the run (a headless coder exits by itself).
                last_look = time.monotonic()
                self._look_for_report()
        for t in threads:
            t.join(timeout=5)
        return int(code)

    def _look_for_report(self) -> bool:
        """Has the agent reported (its task left in-progress)? In tmux mode that ends the
        run: an interactive coder would wait at its prompt (a headless one exits)."""
        from ..model.task import State

        state = self._fleet().tasks.states_of([self.task_id]).get(self.task_id)
        if state is None or state == State.IN_PROGRESS:
            return False
        if self.spec.get("tmux") and self.reported is None:
            self.reported = f"the agent reported (task {state.value}); its tmux session closed"
            self.events.write({"event": "reported", "state": state.value})
            grace = float(self.limits.get("kill_grace_s") or 5)
            threading.Thread(target=kill_tree, args=(self.child.pid, grace), daemon=True).start()
        return True

    def _beat(self) -> None:
        from ..errors import AofError, LeaseError, NotFound

        try:
            self._fleet().heartbeat(self.task_id, self.token)
        except (LeaseError, NotFound) as exc:
            if not self._look_for_report():  # reported: the lease went with the report
                self.stop("lost-lease", str(exc))
        except AofError as exc:
            self.events.write({"event": "runner_error", "message": f"heartbeat: {exc}"})

    def _flag_stuck(self, idle: float) -> None:
        self.events.write({"event": "stuck", "idle_s": round(idle, 1)})
        from ..errors import AofError

        try:
            self._fleet().flag_stuck(self.task_id, self.token, idle_s=idle)
        except AofError as exc:
            self.events.write({"event": "runner_error", "message": f"stuck notice: {exc}"})

    def stop(self, outcome: str, reason: str) -> None:
        """Stop the coder and everything it started: SIGTERM, then SIGKILL after the grace."""
        if self.stop_reason is None:
            self.stop_reason = (outcome, reason)
            self.events.write({"event": "stopping", "outcome": outcome, "reason": reason})
        if self.child is not None:
            grace = float(self.limits.get("kill_grace_s") or 5)
            threading.Thread(target=kill_tree, args=(self.child.pid, grace), daemon=True).start()

    # --- the end ---------------------------------------------------------------------------

    def outcome(self, code: int | None) -> tuple[str, str]:
        if self.stop_reason is not None:
            return self.stop_reason
        if self.reported is not None:
            return "exited", self.reported
        killed = self.run_dir / "kill.json"
        if killed.exists():
            with contextlib.suppress(OSError, ValueError):
                by = json.loads(killed.read_text(encoding="utf-8")).get("by", "a person")
                return "killed", f"stopped by {by} (aof agent kill)"
            return "killed", "stopped with aof agent kill"
        if self.meter.limit is not None:
            reset = self.meter.limit.get("reset_at")
            return "usage-limited", f"coder {self.coder} hit a usage limit" + (
                f" (resets {reset})" if reset else ""
            ) + f": {self.meter.limit.get('message')}"
        if self.meter.context is not None:
            return "context-exhausted", f"the context window ran out: {self.meter.context}"
        if str(self.spec.get("label") or "").startswith("review"):
            return "reviewed", f"reviewer's coder {self.coder} exited with code {code}"
        return "exited", f"coder {self.coder} exited with code {code}"

    def settle(self, code: int | None, outcome: str, reason: str) -> dict[str, Any]:
        m = self.meter
        wall = time.monotonic() - self.started
        spent = {"tokens": m.tokens, "usd": round(m.cost, 6), "wall_s": round(wall, 1)}
        result: dict[str, Any] = {
            "outcome": outcome,
            "reason": reason,
            "exit_code": code,
            "started": self.started_at,
            "ended": utc_stamp(),
            "session_id": m.session_id,
            **{k: spent[k] for k in ("tokens", "wall_s")},
            "cost_usd": spent["usd"],
            "context_peak_pct": m.context_peak_pct,
            "settled": False,
        }
        usage = self._usage()
        if outcome == "lost-lease":
            result["settled"] = True  # the task is someone else's now: only its cost is ours
            with contextlib.suppress(Exception):
                self._fleet().record_cost(self.task_id, usage, outcome=outcome)
            return result
        try:
            from .handoff import handoff_for

            fleet, wt = self._fleet(), self.spec.get("worktree")
            with fleet.reason(self._kill_reason() if outcome == "killed" else None):
                task, final = fleet.settle_run(
                    self.task_id,
                    self.token,
                    outcome=outcome,
                    reason=reason,
                    spent=spent,
                    usage=usage,
                    handoff=handoff_for(outcome, reason, self.said, wt, self.start_head),
                )
            result.update(outcome=final, task_state=task.state.value, settled=True)
            if final == "usage-limited":  # not when the agent finished regardless
                self._pause()
            if task.state.value in ("done", "cancelled"):
                result["worktree_removed"] = self._remove_worktree()
        except Exception as exc:  # the daemon settles it from outside
            result["settle_error"] = f"{type(exc).__name__}: {exc}"
        return result

    def _usage(self) -> dict[str, Any]:
        """What the run used, for its row in the cost ledger (:mod:`aof.service.costs`)."""
        import socket

        s = self.spec
        return {
            **self.meter.usage(),
            "run": s.get("run_id"),
            "attempt": s.get("attempt"),
            "label": s.get("label") or None,
            "coder": self.coder,
            "agent": s.get("holder"),
            "host": socket.gethostname(),
        }

    def _kill_reason(self) -> str | None:
        """The reason a person gave `aof agent kill` for stopping this run, if any."""
        try:
            note = json.loads((self.run_dir / "kill.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        reason = note.get("reason") if isinstance(note, dict) else None
        return reason if isinstance(reason, str) else None

    def _remove_worktree(self) -> bool:
        """The task is finished: its worktree goes (the branch stays), unless some other
        process still works in it."""
        wt = self.spec.get("worktree")
        if not wt:
            return False
        from . import worktrees

        path = Path(wt["path"])
        if not path.exists() or worktrees.live_pids([path])[path]:
            return False
        try:
            worktrees.remove(worktrees.read(path))
        except Exception as exc:
            self.events.write({"event": "runner_error", "message": f"worktree: {exc}"})
            return False
        return True

    def _pause(self) -> None:
        from ..clock import parse_time
        from ..store import pauses

        reset = (self.meter.limit or {}).get("reset_at")
        default = float(self.limits.get("usage_pause_s") or 3600)
        until = datetime.now(UTC) + timedelta(seconds=default)
        if reset:
            with contextlib.suppress(ValueError):
                until = parse_time(str(reset))
        pauses.pause(self.root, self.coder, until, reason=str(self.meter.limit), task=self.task_id)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        self.events.write({"event": "runner_start", "pid": os.getpid(), "coder": self.coder})
        code: int | None = None
        try:
            cwd = self.prepare()
            self.start(cwd)
        except Exception as exc:
            outcome, reason = "start-failed", f"could not start coder {self.coder}: {exc}"
        else:
            code = self.supervise()
            outcome, reason = self.outcome(code)
        if self.spec.get("tmux") and self.child is not None:
            self.child.close()
        self._write_meter(final=True)
        result = self.settle(code, outcome, reason)
        self.events.write({"event": "runner_end", **result})
        from ..store.runfiles import write_outcome

        write_outcome(self.run_dir, result)
        return code if code is not None else 127

    def _on_term(self, signum: int, _frame: Any) -> None:
        # The whole process group got it (aof agent kill, the daemon, a shutdown): see the
        # coder out, then settle. A kill by a person left kill.json in the run folder.
        if (self.run_dir / "kill.json").exists():
            self.stop("killed", "stopped with aof agent kill")
        else:
            self.stop("interrupted", f"stopped by {signal.Signals(signum).name}")


def kill_tree(pid: int, grace: float) -> list[int]:
    """SIGTERM ``pid`` and its descendants, SIGKILL what is left after ``grace``; the pids
    still alive at the end (none, unless a process is unkillable)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    _, alive = psutil.wait_procs(alive, timeout=2)
    return [p.pid for p in alive]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m aof.runner.shim RUN_JSON\n")
        return 2
    return Shim(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
