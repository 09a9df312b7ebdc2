"""The delivery worker: a thread of the daemon that sends what the outbox holds.

Each pass (:meth:`DeliveryWorker.step`): read the lines appended to the outbox since the
cursor (never the history), route each new event by the rules of aof.yaml as the daemon
has it now, and send every delivery that is due, one channel at a time. A failed delivery
is retried with exponential back-off per (event, channel) until ``notify.retry.attempts``;
every attempt is a line of ``deliveries.jsonl`` and a count. The state is saved after each
send, so a daemon killed mid-send sends at most that one message again.

Storms: a channel gets at most ``notify.storm_per_minute`` messages one by one in any
minute; past that, events wait (at most :data:`DIGEST_HOLD_S`) and go out together as one
digest that lists them. The worker polls the outbox's size every :data:`POLL_S` (one
``stat``), and the daemon wakes it after each tick, so an event leaves within about a
second. On stop it keeps passing until nothing is due or the drain time is up; what is
left stays queued for the next daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..clock import Clock, format_time, parse_time
from ..store.context import FleetContext
from . import outbox
from .channels import redact, send
from .events import digest, message, subject_line
from .hook import raise_event
from .route import channels_for, retry_settings, storm_limit
from .state import State

T = TypeVar("T")
POLL_S = 0.25
DIGEST_HOLD_S = 10.0
DRAIN_S = 5.0
WINDOW = timedelta(minutes=1)


class DeliveryWorker:
    """Sends the outbox's events (see the module docstring). ``config`` gives aof.yaml's
    data as it is now (the daemon reloads it); ``environ`` is where ``${VAR}`` comes from."""

    def __init__(
        self,
        root: Path,
        config: Callable[[], Mapping[str, Any]],
        clock: Clock,
        log: logging.Logger,
        environ: Mapping[str, str],
    ) -> None:
        self.root = root
        self.config = config
        self.clock = clock
        self.log = log
        self.environ = environ
        self.state = State.load(root)
        self.last_read = 0  # bytes of the outbox the last pass read
        self._sent: dict[str, deque[datetime]] = {}  # channel -> send times in the window
        self._held_since: dict[str, datetime] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_s = DRAIN_S
        self._thread: threading.Thread | None = None

    @classmethod
    def of(
        cls, fleet: FleetContext, log: logging.Logger, environ: Mapping[str, str]
    ) -> DeliveryWorker:
        """The worker of ``fleet``'s daemon: it follows ``fleet.config`` as it is reloaded."""
        return cls(fleet.root, lambda: fleet.config.data, fleet.clock, log, environ)

    # --- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aof-notify", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Look at the outbox now (the daemon calls it after each tick)."""
        self._wake.set()

    def stop(self, drain_s: float = DRAIN_S) -> None:
        """Stop after sending what is due (waiting at most ``drain_s``)."""
        if self._thread is None:
            return
        self._drain_s = drain_s
        self._stop.set()
        self._wake.set()
        self._thread.join(drain_s + 35)  # a send in flight ends within its own timeout
        self._thread = None

    def degraded(self, what: str, reason: str) -> None:
        """Raise ``daemon_degraded`` (``what``: tick, config, watcher) and look at it now."""
        now = format_time(self.clock.now())
        raise_event(self.root, self.config(), "daemon_degraded", reason, at=now, key=what)
        self.poke()

    def guard(self, what: str, step: Callable[[], T]) -> T:
        """``step()``; when it raises, ``daemon_degraded`` is raised first (``what`` failed)."""
        try:
            return step()
        except Exception as exc:
            self.degraded(what, f"a {what} failed: {type(exc).__name__}: {exc}")
            raise

    def _run(self) -> None:
        while not self._stop.is_set():
            self._safe_step(draining=False)
            self._wake.wait(POLL_S)
            self._wake.clear()
        deadline = time.monotonic() + self._drain_s
        while time.monotonic() < deadline:
            if not self._safe_step(draining=True):
                break
            time.sleep(0.05)

    def _safe_step(self, *, draining: bool) -> bool:
        try:
            return self.step(draining=draining)
        except Exception as exc:  # the worker never dies; the daemon goes on
            self.log.error("notify: delivery pass failed: %s: %s", type(exc).__name__, exc)
            return False

    # --- one pass -------------------------------------------------------------------------

    def step(self, *, draining: bool = False) -> bool:
        """One pass: read new events, send what is due. Whether anything is still due now
        (unread lines, deliveries due, events held for a digest)."""
        section = dict(self.config().get("notify") or {})
        self._read(section)
        now = self.clock.now()
        channels = section.get("channels") or {}
        due: dict[str, list[str]] = {}
        for fp, item in sorted(self.state.pending.items(), key=lambda kv: kv[1]["event"]["at"]):
            for name, ch in item["channels"].items():
                if ch["status"] == "held" or (
                    ch["status"] in ("queued", "retrying")
                    and (not ch.get("next_at") or parse_time(ch["next_at"]) <= now)
                ):
                    due.setdefault(name, []).append(fp)
        for name in sorted(due):
            self._deliver(name, channels.get(name), due[name], section, now, draining)
        return self._busy(now)

    def _read(self, section: Mapping[str, Any]) -> None:
        """Take the events appended since the cursor into the pending set."""
        inode, size = outbox.size(self.root)
        self.last_read = 0
        if (inode, size) == tuple(self.state.cursor):
            return
        batch = outbox.read_new(self.root, self.state.cursor)
        self.last_read = batch.read
        for ev in batch.events:
            fp = str(ev["fp"])
            if self.state.seen(fp):
                continue
            targets = channels_for(ev, section)
            if not targets:
                self.state.settle(fp)  # aof.yaml changed since it was raised: no channel now
                continue
            self.state.pending[fp] = {
                "event": ev,
                "channels": {c: {"status": "queued", "attempts": 0} for c in targets},
            }
        self.state.cursor = batch.cursor
        self.state.save()
        if outbox.rotate(self.root, self.state.cursor):
            self.state.cursor = outbox.Cursor(0, 0)
            self.state.save()

    def _busy(self, now: datetime) -> bool:
        if outbox.size(self.root) != tuple(self.state.cursor):
            return True
        for item in self.state.pending.values():
            for ch in item["channels"].values():
                if ch["status"] == "held":
                    return True
                if ch["status"] in ("queued", "retrying") and (
                    not ch.get("next_at") or parse_time(ch["next_at"]) <= now
                ):
                    return True
        return False

    def _deliver(
        self,
        name: str,
        spec: str | None,
        fps: list[str],
        section: Mapping[str, Any],
        now: datetime,
        draining: bool,
    ) -> None:
        """Send channel ``name``'s due deliveries: one by one within the storm limit, the
        rest held and sent as one digest once held long enough (or when draining)."""
        sent = self._sent.setdefault(name, deque())
        while sent and sent[0] <= now - WINDOW:
            sent.popleft()
        held = [fp for fp in fps if self.state.pending[fp]["channels"][name]["status"] == "held"]
        for fp in fps:
            if fp in held:
                continue
            if len(sent) < storm_limit(section) and not held:
                self._send_one(name, spec, fp, section)
                sent.append(self.clock.now())
            else:
                self.state.pending[fp]["channels"][name]["status"] = "held"
                held.append(fp)
                self._held_since.setdefault(name, now)
                self.state.save()
        since = self._held_since.get(name, now)
        if held and (draining or (now - since).total_seconds() >= DIGEST_HOLD_S):
            self._send_digest(name, spec, held, section)
            sent.append(self.clock.now())
            self._held_since.pop(name, None)

    def _send_one(self, name: str, spec: str | None, fp: str, section: Mapping[str, Any]) -> None:
        ev = self.state.pending[fp]["event"]
        title, body = message(ev, str(self.config().get("name") or "fleet"))
        result = self._send(name, spec, title, body, ev)
        self._settle_attempt(name, [fp], result, section)

    def _send_digest(
        self, name: str, spec: str | None, fps: list[str], section: Mapping[str, Any]
    ) -> None:
        events = [self.state.pending[fp]["event"] for fp in fps]
        title, body = digest(events, str(self.config().get("name") or "fleet"))
        summary = {"event": "digest", "severity": max_severity(events)}
        result = self._send(name, spec, title, body, summary)
        self._settle_attempt(name, fps, result, section, digest=len(fps))

    def _send(
        self, name: str, spec: str | None, title: str, body: str, ev: Mapping[str, Any]
    ) -> str | None:
        """Send; the error (scrubbed of secrets) or None."""
        if spec is None:
            return f"channel {name} is no longer in aof.yaml's notify.channels"
        return send(name, spec, title, body, ev, root=self.root, environ=self.environ).error

    def _settle_attempt(
        self,
        name: str,
        fps: list[str],
        error: str | None,
        section: Mapping[str, Any],
        digest: int = 0,
    ) -> None:
        """Record one attempt of channel ``name`` for events ``fps``."""
        retry = retry_settings(section)
        now = self.clock.now()
        for fp in fps:
            item = self.state.pending[fp]
            ch = item["channels"][name]
            ch["attempts"] = int(ch.get("attempts", 0)) + 1
            line: dict[str, Any] = {
                "at": format_time(now),
                "fp": fp,
                "event": item["event"]["event"],
                "task": item["event"].get("task"),
                "channel": name,
                "attempt": ch["attempts"],
            }
            if digest:
                line["digest"] = digest
            if error is None:
                ch.update(status="delivered", at=format_time(now), error=None, next_at=None)
            elif ch["attempts"] >= int(retry["attempts"]):
                ch.update(status="failed", error=error, next_at=None)
            else:
                wait = min(retry["base_s"] * 2 ** (ch["attempts"] - 1), retry["max_s"])
                ch.update(status="retrying", error=error, next_at=format_time(now + _s(wait)))
            line["result"] = ch["status"]
            for key in ("error", "next_at"):
                if ch.get(key):
                    line[key] = ch[key]
            self.state.log(line)
            self.state.count(name, ch["status"])
            self._log_attempt(name, item["event"], ch)
            if all(c["status"] in ("delivered", "failed") for c in item["channels"].values()):
                self.state.settle(fp)
        self.state.save()

    def _log_attempt(self, name: str, ev: Mapping[str, Any], ch: Mapping[str, Any]) -> None:
        what = subject_line(ev)
        target = redact(str(((self.config().get("notify") or {}).get("channels") or {}).get(name)))
        if ch["status"] == "delivered":
            self.log.info("notify: %s sent to %s (%s)", what, name, target)
        elif ch["status"] == "failed":
            self.log.error(
                "notify: %s to %s (%s) failed for good after %d attempt(s): %s",
                what,
                name,
                target,
                ch["attempts"],
                ch["error"],
            )
        else:
            self.log.warning(
                "notify: %s to %s (%s) failed (attempt %d), retrying at %s: %s",
                what,
                name,
                target,
                ch["attempts"],
                ch["next_at"],
                ch["error"],
            )


def max_severity(events: list[Mapping[str, Any]]) -> str:
    order = ("info", "warning", "urgent")
    levels = [order.index(str(e.get("severity"))) for e in events if e.get("severity") in order]
    return order[max(levels)] if levels else "warning"


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


__all__ = ["DeliveryWorker"]
