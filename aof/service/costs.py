"""What runs cost: each settled run's row in the ledger, the month's rollups, and the monthly
budgets of teams and projects.

The runner hands :meth:`aof.Fleet.settle_run` what the run used (``usage``: the model, the
tokens of each model by kind, the USD its coder reported if it did; see
:meth:`aof.runner.meter.Meter.usage`). :func:`record` prices it (:mod:`aof.coders.pricing`),
adds the task's team, project and agent and appends one row to the month's ledger file
(:mod:`aof.store.costs`), which the settle's commit carries. When the row takes a team's or
a project's spend this month across 80 % or 100 % of its ``budget.usd_month``, a
``budget_warning`` or ``budget_exhausted`` notification is raised: once per budget, month
and threshold (the row that crosses it raises it, and its fingerprint is the same however
often it is raised).

:func:`report` is ``aof cost``: a month's rows added up by team, project, coder, agent or
task.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..coders import pricing
from ..errors import ValidationError
from ..store import costs as ledger

if TYPE_CHECKING:
    from .pipeline import Pipeline

GROUPS = ("team", "project", "coder", "agent", "task", "model")
THRESHOLDS = ((1.0, "budget_exhausted"), (0.8, "budget_warning"))


def month_of(stamp: str) -> str:
    """``2026-12`` of a time written ``2026-12-03T10:00:00Z``."""
    return stamp[:7]


def check_month(month: str) -> str:
    """``month`` when it is ``YYYY-MM``, else ValidationError naming it."""
    if not ledger.MONTH_RE.match(month):
        raise ValidationError(f"--month: must be YYYY-MM, like 2026-12 (got {month!r})")
    return month


def run_row(
    task_meta: Mapping[str, Any],
    usage: Mapping[str, Any],
    *,
    task_id: str,
    outcome: str,
    ended: str,
    project_team: str | None = None,
) -> dict[str, Any]:
    """The ledger row of one run of task ``task_id`` that used ``usage``."""
    models = {str(m): pricing.tokens(u) for m, u in (usage.get("models") or {}).items()}
    reported = usage.get("cost_usd")
    reported = float(reported) if isinstance(reported, int | float) else None
    cost, source = pricing.price(models, reported)
    attempt = usage.get("attempt")
    label = str(usage.get("label") or "")
    folder = f"{attempt}-{label}" if label else str(attempt)
    row: dict[str, Any] = {
        "v": ledger.VERSION,
        "run": str(usage.get("run") or f"{task_id}.{folder}"),
        "task": task_id,
        "attempt": attempt,
        "label": label or None,
        "team": task_meta.get("team") or project_team,
        "project": task_meta.get("project"),
        "host": usage.get("host"),
        "agent": usage.get("agent") or (task_meta.get("lease") or {}).get("holder"),
        "coder": usage.get("coder"),
        "model": usage.get("model") or None,
        **pricing.total(models),
        "cost_usd": cost,
        "cost_source": source,
        "price_table": pricing.version(),
        "outcome": outcome,
        "ended": ended,
    }
    if len(models) > 1:
        row["models"] = models
    return {k: v for k, v in row.items() if v is not None or k == "cost_usd"}


def crossings(before: float, after: float, budget: float) -> list[tuple[float, str]]:
    """The thresholds (fraction, event) that spend going from ``before`` to ``after`` USD
    crosses for a budget of ``budget`` USD, highest first."""
    if budget <= 0:
        return []
    return [(f, ev) for f, ev in THRESHOLDS if before < f * budget <= after]


def budget_of(meta: Mapping[str, Any]) -> float | None:
    """A team's or project's monthly budget in USD, None when it has none."""
    budget = meta.get("budget")
    value = budget.get("usd_month") if isinstance(budget, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def spent_by(rows: list[dict[str, Any]], key: str, name: str) -> float:
    """USD of the rows whose ``key`` is ``name``."""
    return sum(
        float(r["cost_usd"])
        for r in rows
        if r.get(key) == name and isinstance(r.get("cost_usd"), int | float)
    )


def over_budget_reason(kind: str, name: str, spent: float, budget: float, month: str) -> str:
    """The words ``aof plan`` and ``aof why`` give for work held back by a budget."""
    return (
        f"{kind} {name} is over its monthly budget: ${spent:,.2f} of ${budget:,.2f} spent "
        f"in {month}"
    )


class Ledger:
    """Each settled run's row, and the budget notifications a row raises."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def record(
        self, task_id: str, meta: Mapping[str, Any], usage: Mapping[str, Any], outcome: str
    ) -> Path | None:
        """Append the row of the run that used ``usage`` on task ``task_id`` (its fields
        ``meta``); the ledger file to commit, or None when the run already has its row."""
        p = self.pipeline
        ended = p.now()
        month = month_of(ended)
        projects = {r["slug"]: r for r in p.registry.rows("project")}
        project = projects.get(str(meta.get("project"))) or {}
        row = run_row(
            meta,
            usage,
            task_id=task_id,
            outcome=outcome,
            ended=ended,
            project_team=project.get("team"),
        )
        path, before = ledger.append(p.root, row, month)
        if before is None:
            return None
        teams = {r["slug"]: r for r in p.registry.rows("team")}
        for kind, entries in (("team", teams), ("project", projects)):
            name = row.get(kind)
            budget = budget_of(entries.get(str(name)) or {})
            if name and budget is not None:
                self._notify(kind, str(name), budget, before, row, month)
        return path

    def _notify(
        self,
        kind: str,
        name: str,
        budget: float,
        before: list[dict[str, Any]],
        row: dict[str, Any],
        month: str,
    ) -> None:
        spent = spent_by(before, kind, name)
        cost = row.get("cost_usd")
        after = spent + (float(cost) if isinstance(cost, int | float) else 0.0)
        config = self.pipeline.config.data
        if not config.get("notify"):
            return
        from ..notify.hook import raise_event

        for fraction, event in crossings(spent, after, budget)[:1]:
            reason = (
                f"{kind} {name} has spent ${after:,.2f} of its ${budget:,.2f} monthly budget "
                f"in {month} ({after / budget:.0%}; {fraction:.0%} reached with run {row['run']})"
            )
            raise_event(
                self.pipeline.root,
                config,
                event,
                reason,
                at=str(row["ended"]),
                key=f"{kind}:{name}:{month}:{fraction:g}:{budget:g}",
                once=True,
                **{kind: name},
            )


def report(root: Path, month: str, by: str) -> dict[str, Any]:
    """``month``'s runs added up by ``by`` (one of :data:`GROUPS`), biggest spend first."""
    if by not in GROUPS:
        raise ValidationError(f"--by: must be one of {', '.join(GROUPS)} (got {by!r})")
    rows = ledger.read(root, check_month(month))
    groups: dict[str, dict[str, Any]] = {}
    total = _empty("")
    for row in rows:
        for bucket in (groups.setdefault(str(row.get(by) or "-"), _empty(row.get(by))), total):
            _add(bucket, row)
    out = sorted(groups.values(), key=lambda g: (-g["cost_usd"], str(g["key"])))
    for g in (*out, total):
        for key in ("cost_usd", "reported_usd", "estimated_usd"):
            g[key] = round(g[key], 9)
    total.pop("key")
    return {
        "month": month,
        "by": by,
        "price_table": pricing.version(),
        "total": total,
        "rows": out,
    }


def with_budgets(result: dict[str, Any], registry: Any) -> dict[str, Any]:
    """``result`` (a :func:`report` by team or by project) with each group's monthly budget
    (``budget_usd_month``) and the part of it spent (``budget_used``, 0.8 is 80 %)."""
    if result["by"] not in ("team", "project"):
        return result
    budgets = {r["slug"]: budget_of(r) for r in registry.rows(result["by"])}
    for row in result["rows"]:
        budget = budgets.get(str(row["key"]))
        if budget is not None:
            row["budget_usd_month"] = budget
            row["budget_used"] = round(row["cost_usd"] / budget, 4) if budget > 0 else None
    return result


def _empty(key: Any) -> dict[str, Any]:
    return {
        "key": key,
        "runs": 0,
        "cost_usd": 0.0,
        "reported_usd": 0.0,
        "estimated_usd": 0.0,
        "unknown_runs": 0,
        **dict.fromkeys(pricing.KINDS, 0),
    }


def _add(bucket: dict[str, Any], row: dict[str, Any]) -> None:
    bucket["runs"] += 1
    cost = row.get("cost_usd")
    source = row.get("cost_source")
    if isinstance(cost, int | float) and source in ("reported", "estimated"):
        bucket["cost_usd"] += float(cost)
        bucket[f"{source}_usd"] += float(cost)
    else:
        bucket["unknown_runs"] += 1
    for kind in pricing.KINDS:
        value = row.get(kind)
        bucket[kind] += value if isinstance(value, int) else 0
