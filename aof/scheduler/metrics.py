"""Prometheus metrics of a daemon (``aof daemon --metrics-port P``), with prometheus_client.

Counted as the daemon works: ``aof_dispatches_total{kind}`` (dispatch, review, gate),
``aof_run_outcomes_total{outcome,coder}``, ``aof_gate_results_total{outcome}``,
``aof_lease_expiries_total``, ``aof_tick_seconds`` (a histogram). Read at each scrape, from
the files: ``aof_tasks{state,team,project}``, ``aof_notifications_total{channel,result}``
(``.aof/notify/state.json``), ``aof_forge_requests_total``, ``aof_forge_not_modified_total``
and ``aof_forge_ratelimit_remaining`` (the forge poller's budget); this month's cost by
team, project and coder from the cost ledger (:mod:`aof.scheduler.costmetrics`).

The server listens on 127.0.0.1 unless told otherwise; it reads only, and never takes a lock
the daemon holds.
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import layout

if TYPE_CHECKING:
    from ..fleet import Fleet
    from .daemon import Daemon


class Source(Protocol):
    """What the metrics read from the files need: a daemon, or the dashboard's stand-in
    (its ``forge`` is None: the forge's budget lives in the daemon)."""

    @property
    def fleet(self) -> Fleet: ...
    @property
    def root(self) -> Path: ...
    @property
    def forge(self) -> Any: ...


TICK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DaemonMetrics:
    """The registry of one daemon's metrics, and its HTTP server."""

    def __init__(self, daemon: Daemon) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.daemon = daemon
        self.registry = CollectorRegistry()
        reg = self.registry
        self.dispatches = Counter(
            "aof_dispatches", "Work the daemon handed out, by kind", ["kind"], registry=reg
        )
        self.outcomes = Counter(
            "aof_run_outcomes",
            "Runs that ended, by outcome and coder",
            ["outcome", "coder"],
            registry=reg,
        )
        self.gates = Counter(
            "aof_gate_results", "Command gate results, by outcome", ["outcome"], registry=reg
        )
        self.expiries = Counter("aof_lease_expiries", "Leases that ran out", registry=reg)
        self.tick = Histogram(
            "aof_tick_seconds", "How long a daemon tick took", buckets=TICK_BUCKETS, registry=reg
        )
        reg.register(FromFiles(daemon))
        self.server: Any = None

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Start serving ``/metrics``; the port it listens on (``port`` 0: a free one)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self.server = server
        return int(server.server_port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def count_tick(self, report: dict[str, Any]) -> None:
        """What one tick did (its report: :meth:`aof.scheduler.daemon.Daemon.tick`)."""
        self.tick.observe(float(report.get("ms") or 0) / 1000)
        for item in report.get("dispatched") or []:
            kind = "review" if "-review" in str(item.get("run") or "") else "dispatch"
            self.dispatches.labels(kind).inc()
        for _task in report.get("gates") or []:
            self.dispatches.labels("gate").inc()
        for settled in report.get("settled") or []:
            outcome = str(settled.get("outcome") or "unknown")
            self.outcomes.labels(outcome, str(settled.get("coder") or "")).inc()
        for done in report.get("applied") or []:
            if done.get("kind") == "expire" and done.get("ok"):
                self.expiries.inc()

    def count_gate(self, outcome: str) -> None:
        self.gates.labels(outcome).inc()


class FromFiles:
    """The metrics read from the fleet root at each scrape."""

    def __init__(self, daemon: Source) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tasks = GaugeMetricFamily(
            "aof_tasks", "Tasks by state, team and project", labels=["state", "team", "project"]
        )
        tally: Tally[tuple[str, str, str]] = Tally()
        for row in self.daemon.fleet.list_tasks(states=None):
            tally[
                (str(row["state"]), str(row.get("team") or ""), str(row.get("project") or ""))
            ] += 1
        for labels, n in sorted(tally.items()):
            tasks.add_metric(list(labels), n)
        yield tasks
        sent = CounterMetricFamily(
            "aof_notifications",
            "Notification deliveries, by channel and result",
            labels=["channel", "result"],
        )
        for (channel, result), n in sorted(_notify_counts(self.daemon).items()):
            sent.add_metric([channel, result], n)
        yield sent
        from .costmetrics import collect

        fleet = self.daemon.fleet
        yield from collect(fleet.root, fleet.clock.now(), fleet.registry)
        budget = getattr(getattr(self.daemon.forge, "_forge", None), "budget", None)
        if budget is not None:
            yield CounterMetricFamily(
                "aof_forge_requests", "Requests sent to the forge", value=budget.requests
            )
            yield CounterMetricFamily(
                "aof_forge_not_modified", "Forge requests answered 304", value=budget.not_modified
            )
            if budget.remaining is not None:
                yield GaugeMetricFamily(
                    "aof_forge_ratelimit_remaining",
                    "The forge's rate limit left",
                    value=budget.remaining,
                )


def _notify_counts(daemon: Source) -> dict[tuple[str, str], int]:
    try:
        data = json.loads(layout.notify_state(daemon.root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[tuple[str, str], int] = {}
    for channel, results in (data.get("counts") or {}).items():
        if isinstance(results, dict):
            for result, n in results.items():
                if isinstance(n, int):
                    out[(str(channel), str(result))] = n
    return out
