"""Reconcile: what each project should be doing against what it is doing, and the fix.

Desired state comes from the one evaluation of schedules and overrides (``aof.planner.desired``),
with the backlog measured from the task directories; a disabled project is stopped.

Observed state depends on who runs the project's work:

- **AO projects** (an ``ao_project_root`` in the project file, or an ``.ao/`` directory in its
  ``root_path``) run their own AO daemon. It is observed and driven through the ``ao`` CLI
  (``ao daemon status|start|stop|pause|resume --json --project-root R``) behind
  :class:`AoCli`, which tests replace with a fake ``ao`` script.
- **aof projects** are run by the aof daemon itself, whose planner enforces the desired state
  on every dispatch. They are observed as the desired state while the aof daemon is alive,
  and as ``stopped`` when it is not (health then reports them degraded).

The action table is ao-fleet's:

============  =======  =======  =======  ================
desired       running  paused   stopped  missing/crashed
============  =======  =======  =======  ================
running       none     resume   start    start
paused        pause    none     none     none
stopped       stop     stop     none     stop
============  =======  =======  =======  ================

Unlike ao-fleet, every applied action is audited (``daemon_start`` ... on the project).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RemoteError
from ..journal.audit import Actor

if TYPE_CHECKING:
    from ..service.context import ServiceContext

ACTION = {
    ("running", "running"): "none",
    ("running", "paused"): "resume",
    ("running", "stopped"): "start",
    ("running", "missing"): "start",
    ("paused", "running"): "pause",
    ("paused", "paused"): "none",
    ("paused", "stopped"): "none",
    ("paused", "missing"): "none",
    ("stopped", "running"): "stop",
    ("stopped", "paused"): "stop",
    ("stopped", "stopped"): "none",
    ("stopped", "missing"): "stop",
}
OBSERVED = {"running", "paused", "stopped"}


class AoCli:
    """The ``ao`` CLI of AO projects: status and start/stop/pause/resume, 3 tries each."""

    def __init__(self, binary: str = "ao", timeout_s: float = 30.0, tries: int = 3) -> None:
        self.binary = binary
        self.timeout_s = timeout_s
        self.tries = tries

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=self.timeout_s
        )

    def status(self, project_root: str) -> tuple[str, str]:
        """(running|paused|stopped|missing|unavailable, detail) of the project's AO daemon."""
        last = ""
        for attempt in range(self.tries):
            try:
                proc = self._run("daemon", "status", "--json", "--project-root", project_root)
            except FileNotFoundError:
                return "unavailable", f"the {self.binary!r} CLI is not installed"
            except (OSError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
            else:
                if proc.returncode == 0:
                    try:
                        data = json.loads(proc.stdout or "{}")
                    except ValueError:
                        return "missing", f"ao answered with non-JSON: {proc.stdout[:120]!r}"
                    state = str(data.get("status") or data.get("state") or "").lower()
                    if state in OBSERVED:
                        return state, f"ao daemon status: {state}"
                    return "missing", f"ao daemon status: {state or 'unknown'}"
                last = (proc.stderr or proc.stdout).strip()[-200:]
            time.sleep(0.05 * 2**attempt)
        return "missing", f"ao daemon status failed: {last}"

    def act(self, action: str, project_root: str) -> str:
        """Run ``ao daemon <action>``; RemoteError after the last failed try."""
        last = ""
        for attempt in range(self.tries):
            try:
                proc = self._run("daemon", action, "--json", "--project-root", project_root)
            except FileNotFoundError:
                raise RemoteError(f"the {self.binary!r} CLI is not installed") from None
            except (OSError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
            else:
                if proc.returncode == 0:
                    return proc.stdout.strip()[-200:]
                last = (proc.stderr or proc.stdout).strip()[-200:]
            time.sleep(0.05 * 2**attempt)
        raise RemoteError(f"ao daemon {action} --project-root {project_root} failed: {last}")


@dataclass
class Row:
    team: str
    project: str
    runner: str  # ao | aof
    desired: str
    desired_reason: str
    observed: str
    observed_detail: str
    action: str
    active: int = 0  # tasks of the project in progress
    applied: bool | None = None
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ao_root(project: dict[str, Any]) -> str | None:
    """The AO project root of ``project``, or None when aof runs its work itself."""
    if project.get("ao_project_root"):
        return str(project["ao_project_root"])
    root = project.get("root_path")
    if root and (Path(str(root)) / ".ao").is_dir():
        return str(root)
    return None


def evaluate(
    fleet: ServiceContext,
    *,
    at: datetime | None = None,
    team: str | None = None,
    ao: AoCli | None = None,
    daemon_alive: bool | None = None,
) -> list[Row]:
    """One row per project (of ``team``): desired, observed and the action that aligns them."""
    from ..store.daemonstate import daemon_info

    when = at or fleet.clock.now()
    desired = fleet.desired_states(when, [team] if team else None)
    alive = daemon_info(fleet.root)["running"] if daemon_alive is None else daemon_alive
    active: dict[str, int] = {}
    for row in fleet.list_tasks(states=["in-progress"]):
        if row.get("project"):
            active[row["project"]] = active.get(row["project"], 0) + 1
    adapter = ao or AoCli()
    rows = []
    for p in fleet.registry.rows("project"):
        if p.get("team") not in desired:
            continue
        d = desired[p["team"]]
        want, why = d.state, d.reason
        if p.get("enabled") is False:
            want, why = "stopped", f"project {p['slug']} is disabled"
        root = ao_root(p)
        if root is not None:
            observed, detail = adapter.status(root)
            runner = "ao"
            action = ACTION.get((want, observed), "none")
        else:
            runner = "aof"
            if alive:
                observed, detail = want, "the aof daemon is running and enforces it on dispatch"
            else:
                observed, detail = "stopped", "the aof daemon is not running (`aof daemon`)"
            action = "none"
        rows.append(
            Row(
                team=p["team"],
                project=p["slug"],
                runner=runner,
                desired=want,
                desired_reason=why,
                observed=observed,
                observed_detail=detail,
                action=action,
                active=active.get(p["slug"], 0),
            )
        )
    return rows


def apply(
    fleet: ServiceContext, rows: list[Row], *, ao: AoCli | None = None, actor: Actor | None = None
) -> list[Row]:
    """Carry out every row's action (AO projects), each audited and committed."""
    adapter = ao or AoCli()
    who = actor or fleet.actor
    for row in rows:
        if row.action == "none" or row.runner != "ao":
            continue
        project = fleet.registry.get("project", row.project).meta
        root = ao_root(project) or ""
        try:
            row.result = adapter.act(row.action, root)
            row.applied = True
        except RemoteError as exc:
            row.result, row.applied = str(exc), False
        _, audit_path = fleet.audit.append(
            who,
            f"daemon_{row.action}",
            ("project", row.project),
            frm=row.observed,
            to=row.desired if row.applied else row.observed,
            reason=row.desired_reason if row.applied else f"failed: {row.result}",
        )
        fleet.git.commit(
            [audit_path],
            f"project {row.project}: ao daemon {row.action}"
            f"{'' if row.applied else ' failed'} ({who})",
            who,
        )
    return rows


def run(
    fleet: ServiceContext,
    *,
    at: datetime | None = None,
    team: str | None = None,
    do_apply: bool = False,
) -> tuple[list[Row], dict[str, Any]]:
    """Evaluate (and with ``do_apply`` carry out) reconcile for ``team`` or every team: the
    rows, and the JSON of ``aof reconcile --json`` / the ``aof_reconcile`` tool."""
    from ..clock import format_time

    if team is not None:
        fleet.registry.get("team", team)  # NotFound names the team
    rows = evaluate(fleet, at=at, team=team)
    if do_apply:
        rows = apply(fleet, rows)
    data = {
        "at": format_time(at or fleet.clock.now()),
        "applied": do_apply,
        "rows": [r.to_json() for r in rows],
    }
    return rows, data


def health(rows: list[Row]) -> dict[str, int]:
    """ao-fleet's rollup: how many projects are where they should be."""
    # Unobserved: nobody could be asked (no `ao` CLI). A crashed or missing daemon was
    # observed, and is degraded.
    unobserved = [r for r in rows if r.observed == "unavailable"]
    # A paused project whose AO daemon is stopped is as good as paused (nothing runs).
    aligned = [
        r
        for r in rows
        if r.observed in OBSERVED
        and (r.observed == r.desired or (r.desired, r.observed) == ("paused", "stopped"))
    ]
    return {
        "total": len(rows),
        "desired_running": sum(1 for r in rows if r.desired == "running"),
        "observed_running": sum(1 for r in rows if r.observed == "running"),
        "aligned": len(aligned),
        "degraded": len(rows) - len(aligned) - len(unobserved),
        "unobserved": len(unobserved),
    }
