"""``aof cost``: what runs cost, from the cost ledger (``costs/YYYY-MM.jsonl``)."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, pass_env

GROUPS = ("team", "project", "coder", "agent", "task", "model")


@click.command("cost")
@click.option("--month", metavar="YYYY-MM", help="This month (default: the current one).")
@click.option(
    "--by",
    type=click.Choice(GROUPS),
    default="team",
    show_default=True,
    help="Add the runs up by this.",
)
@json_option
@pass_env
def cost_cmd(env: Env, month: str | None, by: str, as_json: bool) -> None:
    """What the fleet's runs cost in a month: USD and tokens, by team, project, coder,
    agent, task or model, with the teams' and projects' monthly budgets.

    Each run's cost is the one its coder reported (`reported`), else its tokens priced
    from aof's pinned price table (`estimated`), else `unknown` (tokens kept).

    \b
    Example:
      aof cost
      aof cost --month 2026-12 --by project --json
    """
    from ..fleetapi import cost

    report = cost(env.fleet(), month, by)
    emit(report, as_json, _text(report))


def _text(report: dict[str, Any]) -> str:
    total = report["total"]
    lines = [
        f"{report['month']}: ${total['cost_usd']:,.2f} in {total['runs']} run(s) "
        f"(prices {report['price_table']})",
    ]
    if total["unknown_runs"]:
        lines[0] += f"; {total['unknown_runs']} run(s) of unknown cost"
    lines.append(
        f"{report['by']:<20} {'USD':>10} {'runs':>5} {'input':>10} {'cached':>11} {'output':>9}"
    )
    for row in report["rows"]:
        budget = ""
        if row.get("budget_usd_month") is not None:
            used = row.get("budget_used")
            budget = f"  budget ${row['budget_usd_month']:,.2f}" + (
                f" ({used:.0%})" if used is not None else ""
            )
        lines.append(
            f"{row['key'] or '-'!s:<20} {row['cost_usd']:>10,.2f} {row['runs']:>5} "
            f"{row['input']:>10,} {row['cached_input']:>11,} "
            f"{row['output'] + row['reasoning']:>9,}{budget}"
        )
    return "\n".join(lines)
