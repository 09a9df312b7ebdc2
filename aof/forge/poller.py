"""The daemon's forge poller: the pr gate's work, on a thread of its own.

For each task in review at a pr gate, once per ``forges.github.poll_s`` (default 60 s) and
driven by the daemon's ticks:

0. (every poll interval) the open issues of each project that names ``import_labels`` are
   imported as tasks, into backlog (:func:`aof.forge.issues.import_issues`);
1. its branch is pushed to the project's remote when the forge does not have its head yet,
   and its pull request opened (or its description updated);
2. the PR is observed (conditional requests: an unchanged PR costs no rate limit) and the
   reactions its current condition calls for (:func:`aof.forge.reactions.derive`) are
   applied through the service (:attr:`aof.Fleet.prs`), each once (fingerprints);
3. a ``merge`` reaction merges through the forge at the head SHA that was seen green and
   approved; a merge the forge refuses because the head moved or the branch conflicts
   sends the work back to rebase.

A forge that is down leaves every task as it is (the next round tries again); a spent rate
limit pauses all polling until the reset the forge named. What the poller last saw is kept
in ``.aof/forge/state.json`` for ``aof forge status``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import AofError
from ..files.atomic import write_json
from . import reactions as rx
from .base import Forge, ForgeDown, ForgeError, Observation, RateLimited
from .push import pr_body, push, remote_of

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..model.task import Task

DEFAULT_POLL_S = 60.0
CHECKS_EVERY = 5  # rounds between two reads of a PR's checks that all completed on its head


class ForgePoller:
    """The pr gates of one fleet root (see the module docstring)."""

    def __init__(self, fleet: Fleet, log: Any, forge: Forge | None = None) -> None:
        self.fleet = fleet
        self.log = log
        self._forge = forge
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None
        self.last_poll: dict[str, float] = {}  # task -> monotonic time of its last poll
        self.last_change: dict[str, tuple[str, float]] = {}  # task -> (condition, since)
        self.seen: dict[str, dict[str, Any]] = {}  # task -> what its last poll saw
        self.paused_until = 0.0  # epoch s: a spent rate limit
        self.memory: dict[str, dict[str, Any]] = {}  # task -> its PR's last observation
        self.rounds = 0
        self.problem: str | None = None  # why the forge cannot be used now (no token ...)

    # --- the thread -------------------------------------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="forge-poller", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        self.wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping:
            self.wake.wait(5.0)
            self.wake.clear()
            if self.stopping:
                break
            try:
                self.round()
            except Exception as exc:  # never let the thread die: say why, try next round
                self.log.error("forge poller: %s: %s", type(exc).__name__, exc)

    # --- one round ----------------------------------------------------------------------

    def poll_s(self) -> float:
        cfg = ((self.fleet.config.data.get("forges") or {}).get("github")) or {}
        return float(cfg.get("poll_s") or DEFAULT_POLL_S)

    def forge(self) -> Forge:
        if self._forge is None:
            from .github import forge_for

            self._forge = forge_for(self.fleet.config.data)
        return self._forge

    def round(self) -> None:
        """One pass over the tasks at a pr gate whose poll is due: branches pushed and PRs
        opened first, then each repository's open PRs listed in one request and each PR
        observed from that list (its reviews read when it moved, and like checks that all
        completed on its head, every :data:`CHECKS_EVERY` rounds), and the reactions
        applied; last, the issues of projects that name ``import_labels``."""
        rows = [
            r
            for r in self.fleet.list_tasks(states=["review"])
            if ((r.get("gate") or {}).get("kind")) == "pr"
        ]
        if time.time() < self.paused_until:
            self._save(rows)
            return
        due = time.monotonic() - self.poll_s()
        self.rounds += 1
        watch: dict[str, list[tuple[Task, int]]] = {}
        try:
            for row in rows:
                if self.stopping or self.last_poll.get(row["id"], -1e18) > due:
                    continue
                self.last_poll[row["id"]] = time.monotonic()
                self._guard(row["id"], lambda r=row: self._prepare(r["id"], watch))
            for repo, tasks in sorted(watch.items()):
                self._guard(tasks[0][0].id, lambda r=repo, t=tasks: self._observe_repo(r, t))
            self._import_issues()
        except RateLimited as exc:
            self.paused_until = exc.reset_at
            self.log.warning("forge: rate limit spent; polling paused until %s", _at(exc))
        if rows or self._forge is not None:  # a fleet without a forge writes nothing
            self._save(rows)

    def _import_issues(self) -> None:
        """Import the issues of every project that names ``import_labels``, once a poll
        interval (into backlog: a person promotes what should run)."""
        from .issues import import_issues

        due = time.monotonic() - self.poll_s()
        for project in self.fleet.registry.rows("project"):
            labels = [str(x) for x in project.get("import_labels") or []]
            key = f"issues:{project['slug']}"
            if not labels or self.stopping or self.last_poll.get(key, -1e18) > due:
                continue
            self.last_poll[key] = time.monotonic()

            def work(slug: str = str(project["slug"]), wanted: list[str] = labels) -> None:
                rows = import_issues(self.fleet, self.forge(), slug, labels=wanted, limit=100)
                for row in rows:
                    if row["action"] != "unchanged":
                        self.log.info(
                            "forge: issue #%s %s as %s", row["issue"], row["action"], row["task"]
                        )

            self._guard(key, work)

    def _guard(self, task_id: str, work: Any) -> None:
        """Run ``work``; a forge that is down or an error leaves the task as it is."""
        try:
            work()
        except RateLimited:
            raise
        except ForgeDown as exc:
            self.log.warning("forge: %s: %s (the task keeps its state)", task_id, exc)
        except AofError as exc:
            self.log.error("forge: %s: %s", task_id, exc)
            self.seen.setdefault(task_id, {})["error"] = str(exc)

    def _prepare(self, task_id: str, watch: dict[str, list[tuple[Task, int]]]) -> None:
        """Push and open for a task that needs it; else queue its PR to be observed."""
        task = self.fleet.get_task(task_id)
        project = self._project(task)
        from .github import repo_of

        repo = repo_of(project)
        if not repo:
            slug = project.get("slug")
            why = f"project {slug} names no forge repository: "
            self._block(task, why + f"`aof project update {slug} --repo OWNER/NAME`")
            return
        pr = ((task.meta.get("gate") or {}).get("pr")) or {}
        head = self.fleet.branch_head(task)
        if not pr.get("number") or (head and pr.get("pushed") != head):
            self._push_and_open(task, project, repo, head, pr)
            return
        watch.setdefault(repo, []).append((task, int(pr["number"])))

    def _observe_repo(self, repo: str, tasks: list[tuple[Task, int]]) -> None:
        listed = self.forge().open_prs(repo)
        for task, number in tasks:
            self._guard(task.id, lambda t=task, n=number: self._observe_one(repo, t, n, listed))

    def _observe_one(self, repo: str, task: Task, number: int, listed: dict[int, Any]) -> None:
        known = listed.get(number)  # not listed: merged or closed, read on its own
        memory = self.memory.get(task.id) or {}
        moved = known is None or memory.get("updated_at") != known.updated_at
        same = known is not None and not moved and memory.get("head") == known.head_sha
        # Checks that all completed on this head are read again every CHECKS_EVERY rounds (a
        # re-run), and so are the reviews of such a PR when it did not move (a review that
        # left its updated_at as it was): each PR in its own round, so that a round's
        # requests stay flat and never exceed those of a round where every PR's CI runs.
        turn = (self.rounds + zlib.crc32(task.id.encode())) % CHECKS_EVERY == 0
        final = same and bool(memory.get("final"))
        reuse = memory["checks"] if final and not turn else None
        reviews = moved or (final and turn)
        obs = self.forge().observe(repo, number, pr=known, reviews=reviews, checks=reuse)
        if not obs.reviewed:
            obs.reviews, obs.comments = memory.get("reviews", []), memory.get("comments", [])
        self.memory[task.id] = {
            "updated_at": obs.pr.updated_at,
            "head": obs.pr.head_sha,
            "reviews": obs.reviews,
            "comments": obs.comments,
            "checks": obs.checks,
            # No check at all is not final: CI may not have registered its checks yet.
            "final": bool(obs.checks) and all(c.status == "completed" for c in obs.checks),
        }
        self._react(task, repo, obs)

    # --- pushing and opening ------------------------------------------------------------

    def _push_and_open(
        self,
        task: Task,
        project: dict[str, Any],
        repo: str,
        head: str | None,
        pr: dict[str, Any],
    ) -> None:
        from ..model.branches import branch_for

        branch = branch_for(task.id, task.meta)
        if head is None:
            self._block(task, f"branch {branch} does not exist: there is nothing to push")
            return
        root = Path(str(project["root_path"])).expanduser()
        base = str(project.get("default_branch") or "main")
        push(root, remote_of(project), branch, pr.get("head_sha"))
        body = pr_body(task.id, task.title, task.body, task.meta, repo)
        forge = self.forge()
        found = forge.find_pr(repo, branch)
        if found is None:
            found = forge.open_pr(repo, head=branch, base=base, title=task.title, body=body)
        else:
            found = forge.update_pr(repo, found.number, title=task.title, body=body)
        record = {"repo": repo, "number": found.number, "url": found.url}
        record.update(head_sha=head, pushed=head, base=base)
        self.fleet.prs.record_pr(task.id, record)
        self.log.info("forge: %s: PR #%d at %s (%s)", task.id, found.number, head[:10], found.url)

    # --- reacting -----------------------------------------------------------------------

    def _react(self, task: Task, repo: str, obs: Observation) -> None:
        gate = task.meta.get("gate") or {}
        pr = gate.get("pr") or {}
        done = set(pr.get("reacted") or [])
        condition = _condition(obs)
        before = self.last_change.get(task.id)
        if before is None or before[0] != condition:
            self.last_change[task.id] = (condition, time.monotonic())
        quiet = time.monotonic() - self.last_change[task.id][1]
        config = self.fleet.config.data
        found = rx.derive(
            obs,
            done,
            merge=str(gate.get("merge") or "manual"),
            approvals=int(str(gate.get("approvals", 1))),
            quiet_s=quiet,
            config=config,
        )
        self.seen[task.id] = {"condition": condition, "next": [r.name for r in found]}
        self.seen[task.id].update(_summary(obs))
        for reaction in found:
            if not self._apply(task, repo, obs, reaction):
                break

    def _apply(self, task: Task, repo: str, obs: Observation, r: rx.Reaction) -> bool:
        """Apply one reaction; False when the task moved on (nothing more to apply)."""
        config = self.fleet.config.data
        data: dict[str, Any] = {"name": r.name, "fingerprints": r.fingerprints, "reason": r.reason}
        data.update(sha=r.sha, feedback=r.feedback)
        if r.name == "merge":
            return self._merge(task, repo, obs, r)
        if r.name == "merged":
            data.update(action="done", merge_commit=r.data.get("merge_commit"))
        elif r.name == "closed":
            data["action"] = rx.settings(config, "closed").get("action", "cancel")
        elif r.name in ("ci_failed", "changes_requested"):
            data.update(action="send_back", retries=rx.settings(config, r.name).get("retries", 3))
        else:
            data["action"] = "notify"
        try:
            moved = self.fleet.prs.react(task.id, data)
        except AofError as exc:
            self.log.warning("forge: %s: %s not applied: %s", task.id, r.name, exc)
            return False
        self.log.info("forge: %s: %s: %s", task.id, r.name, r.reason)
        return moved.state.value == "review"

    def _merge(self, task: Task, repo: str, obs: Observation, r: rx.Reaction) -> bool:
        gate = task.meta.get("gate") or {}
        method = str(gate.get("method") or "squash")
        sha = str(r.sha)
        result = self.forge().merge(repo, obs.pr.number, sha=sha, method=method)
        if result.merged:
            why = f"PR #{obs.pr.number} merged at {sha[:10]} ({method}): {result.sha}"
            data: dict[str, Any] = {"name": "merged", "action": "done", "reason": why, "sha": sha}
            data.update(fingerprints=["merged", *r.fingerprints], merge_commit=result.sha)
            self.fleet.prs.react(task.id, data)
            self.log.info("forge: %s: merged PR #%d at %s", task.id, obs.pr.number, sha[:10])
            return False
        if result.conflict:
            retries = rx.settings(self.fleet.config.data, "merge_conflict").get("retries", 2)
            feedback = (
                f"The merge of PR #{obs.pr.number} at {sha[:10]} was refused: "
                f"{result.message}. Rebase the branch on {obs.pr.base_ref} and push."
            )
            data = {"name": "merge_conflict", "action": "send_back", "retries": retries}
            data.update(fingerprints=[f"conflict:{sha}"], sha=sha, feedback=feedback)
            data["reason"] = f"PR #{obs.pr.number} was not merged: {result.message}"
            self.fleet.prs.react(task.id, data)
            return False
        self.log.warning(
            "forge: %s: merge of PR #%d refused: %s", task.id, obs.pr.number, result.message
        )
        return False

    # --- helpers ------------------------------------------------------------------------

    def _project(self, task: Task) -> dict[str, Any]:
        slug = task.meta.get("project")
        rows = {p["slug"]: p for p in self.fleet.registry.rows("project")}
        if slug not in rows:
            raise ForgeError(f"task {task.id} has no project: a pr gate needs one")
        return rows[str(slug)]

    def _block(self, task: Task, reason: str) -> None:
        data: dict[str, Any] = {"name": "unready", "action": "block", "reason": reason}
        data["fingerprints"] = [f"unready:{reason}"]
        with contextlib.suppress(AofError):
            self.fleet.prs.react(task.id, data)
        self.log.error("forge: %s: %s", task.id, reason)

    def _save(self, rows: list[dict[str, Any]]) -> None:
        forge = self._forge
        budget = forge.budget if forge is not None else None
        data = {
            "updated": time.time(),
            "paused_until": self.paused_until or None,
            "problem": self.problem,
            "budget": budget.__dict__ if budget is not None else None,
            "tasks": {r["id"]: self.seen.get(r["id"], {}) for r in rows},
        }
        path = layout.forge_state(self.fleet.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            write_json(path, data)


def _condition(obs: Observation) -> str:
    s = _summary(obs)
    return f"{obs.pr.head_sha}|{s['checks']}|{s['approvals']}|{s['changes']}|{obs.pr.state}"


def _summary(obs: Observation) -> dict[str, Any]:
    failing = sorted(c.name for c in obs.checks if c.failed)
    pending = sorted(c.name for c in obs.checks if c.status != "completed")
    checks = "red" if failing else ("pending" if pending else "green")
    return {
        "pr": obs.pr.number,
        "url": obs.pr.url,
        "head": obs.pr.head_sha,
        "checks": checks,
        "failing": failing,
        "approvals": len(rx.approved(obs)),
        "changes": sum(1 for r in obs.reviews if r.state == "CHANGES_REQUESTED"),
        "mergeable": obs.pr.mergeable_state,
    }


def _at(exc: RateLimited) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exc.reset_at))
