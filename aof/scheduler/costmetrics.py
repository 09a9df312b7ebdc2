"""The cost metrics a daemon serves (``aof daemon --metrics-port``), read from the cost
ledger at each scrape: the clock's month only, so each series starts again at 0 when a
month begins (gauges, not counters).

- ``aof_cost_month_usd{team,project,coder}``: USD of the runs that ended this month
  (reported and estimated; a run of unknown cost adds nothing);
- ``aof_cost_month_tokens{team,project,coder,kind}``: their tokens, ``kind`` one of
  input, cached_input, cache_write, output, reasoning;
- ``aof_cost_month_runs{team,project,coder,outcome,source}``: their runs, by how each
  ended and where its cost came from (reported, estimated, unknown);
- ``aof_budget_usd_month{kind,name}`` and ``aof_budget_spent_usd{kind,name}``: each team's
  and project's monthly budget and what it spent of it this month.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..coders.pricing import KINDS
from ..store import costs


def collect(root: Path, now: datetime, registry: Any) -> Iterator[Any]:
    """The cost metric families of ``now``'s month."""
    from prometheus_client.core import GaugeMetricFamily

    month = now.strftime("%Y-%m")
    rows = costs.read(root, month)
    usd: dict[tuple[str, ...], float] = {}
    tokens: Counter[tuple[str, ...]] = Counter()
    runs: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        who = tuple(str(row.get(k) or "") for k in ("team", "project", "coder"))
        cost = row.get("cost_usd")
        usd[who] = usd.get(who, 0.0) + (float(cost) if isinstance(cost, int | float) else 0.0)
        for kind in KINDS:
            tokens[(*who, kind)] += int(row.get(kind) or 0)
        runs[(*who, str(row.get("outcome") or ""), str(row.get("cost_source") or ""))] += 1
    labels = ["team", "project", "coder"]
    tallies: tuple[tuple[str, str, list[str], dict[tuple[str, ...], Any]], ...] = (
        ("aof_cost_month_usd", "USD of this month's runs", [], usd),
        ("aof_cost_month_tokens", "Tokens of this month's runs, by kind", ["kind"], tokens),
        (
            "aof_cost_month_runs",
            "This month's runs, by outcome and cost source",
            ["outcome", "source"],
            runs,
        ),
    )
    for name, help_, extra, tally in tallies:
        family = GaugeMetricFamily(name, help_, labels=[*labels, *extra])
        for key, value in sorted(tally.items()):
            family.add_metric(list(key), value)
        yield family
    yield from _budgets(root, month, registry)


def _budgets(root: Path, month: str, registry: Any) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    from ..service.costs import budget_of

    budget = GaugeMetricFamily(
        "aof_budget_usd_month", "Monthly budgets of teams and projects", labels=["kind", "name"]
    )
    spent = GaugeMetricFamily(
        "aof_budget_spent_usd", "What they spent of it this month", labels=["kind", "name"]
    )
    totals = costs.totals(root, month)
    for kind in ("team", "project"):
        for row in registry.rows(kind):
            usd = budget_of(row)
            if usd is not None:
                budget.add_metric([kind, row["slug"]], usd)
                spent.add_metric([kind, row["slug"]], totals[kind].get(row["slug"], 0.0))
    yield budget
    yield spent
