"""The daemon's git sync: with ``git.remote`` set, fetch, merge and push on a thread of its
own every ``git.sync_s`` (default: the tick interval), so a slow or unreachable remote never
holds up a tick.

The merge itself (:func:`aof.fleetapi.sync`) runs under the daemon's tick lock: it never
interleaves with a tick's plan and dispatch, and other processes of the root are kept out by
the task, git and audit locks. A remote that cannot be reached is a warning in
``runs/daemon.log`` (once until it answers again); the next round tries again. A conflict is
logged with where the other side's version was kept (the ``sync_conflict`` record and
notification say the same). After a merge that brought changes in, the daemon is woken to
plan with them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import AofError
from ..model.gitsync import sync_settings

if TYPE_CHECKING:
    from ..fleet import Fleet


class GitSync:
    """Fetch, merge and push the daemon's fleet root (see the module docstring)."""

    def __init__(
        self,
        fleet: Fleet,
        log: Any,
        hold: Callable[[], Any],
        wake_daemon: Callable[[], None],
        config: Callable[[], Any],
    ) -> None:
        self.fleet = fleet  # a Fleet of its own: its commits are never in a tick's batch
        self.fleet.git.deferred = False
        self.log = log
        self.hold = hold
        self.wake_daemon = wake_daemon
        self.config = config  # the daemon's current Config (aof.yaml reloads)
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None
        self.last: Any = None
        self.rounds = 0
        self._down: str | None = None
        self._due = 0.0

    def enabled(self) -> bool:
        return bool(sync_settings(self.config().data)["remote"])

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="git-sync", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        self.wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping:
            self.wake.wait(1.0)
            self.wake.clear()
            if self.stopping or not self.enabled() or time.monotonic() < self._due:
                continue
            try:
                self.round()
            except Exception as exc:  # never let the thread die: say why, try next round
                self.log.error("git sync: %s: %s", type(exc).__name__, exc)
            self._due = time.monotonic() + sync_settings(self.config().data)["sync_s"]

    def round(self) -> Any:
        """One fetch, merge and push; the :class:`aof.ops.sync.SyncResult`."""
        from ..fleetapi import sync

        self.fleet.config = self.config()
        self.rounds += 1
        try:
            result = sync(self.fleet, person=False, hold=self.hold)
        except AofError as exc:
            self.log.error("git sync: %s", exc)
            return None
        self.last = result
        self._report(result)
        return result

    def _report(self, result: Any) -> None:
        if result.error:
            if self._down != result.error:
                self.log.warning(
                    "git sync: %s; working locally, trying again in %gs",
                    result.error,
                    sync_settings(self.config().data)["sync_s"],
                )
            self._down = result.error
            return
        if self._down:
            self.log.info("git sync: %s %s answers again", result.remote, result.branch)
            self._down = None
        if result.waiting:
            self.log.warning("git sync: %s", result.waiting)
        for rec in result.conflicts:
            self.log.warning("git sync: conflict kept aside: %s", rec.get("reason"))
        if result.audited:
            self.log.info("git sync: recorded %d incoming hand edit(s)", len(result.audited))
        if result.merged:
            self.log.info(
                "git sync: merged %s %s at %s%s",
                result.remote,
                result.branch,
                result.merged[:10],
                ", pushed" if result.pushed else "",
            )
            self.wake_daemon()
        elif result.pushed:
            self.log.info("git sync: pushed to %s %s", result.remote, result.branch)
