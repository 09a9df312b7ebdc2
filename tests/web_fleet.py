"""A fleet root with one task waiting on each kind of attention, for the dashboard's tests
(tests/test_web_pages.py, tests/test_web_browser.py, scripts/dashboard_screenshots.py)."""

from __future__ import annotations

from typing import Any

from aof import Fleet

PEOPLE = "gates:\n  - name: design\n    review: {human: true}\n"


def claimed(fleet: Fleet, title: str, **kw: Any) -> tuple[str, str]:
    """A new task claimed by coder-1: (id, lease token)."""
    task = fleet.create_task(title, **kw)
    fleet.promote(task.id)
    lease = fleet.claim(task.id, "coder-1").lease or {}
    return task.id, str(lease["token"])


def populate(fleet: Fleet) -> dict[str, str]:
    """Tasks in every open state, one per attention lane that needs no daemon; their ids."""
    fleet.registry.create("team", "web", {"name": "Web", "mission": "m", "ownership": "site"})
    fleet.registry.create("team", "data", {"name": "Data", "mission": "m", "ownership": "db"})
    (fleet.root / "workflows" / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    ids: dict[str, str] = {}
    ids["backlog"] = fleet.create_task("Sketch the pricing page", team="web").id
    ids["ready"] = fleet.create_task("Fix the login redirect", team="web", priority="high").id
    fleet.promote(ids["ready"])
    ids["running"], _ = claimed(fleet, "Index the orders table", team="data")
    ids["question"], token = claimed(fleet, "Migrate the user table", team="data")
    fleet.block(ids["question"], question="Keep the old column or drop it?", token=token)
    ids["gate"], token = claimed(
        fleet, "Redesign the footer", team="web", fields={"workflow": "people"}
    )
    fleet.complete(ids["gate"], summary="New footer", token=token)
    ids["budget"], token = claimed(fleet, "Rewrite the importer", team="data")
    fleet.settle_run(
        ids["budget"],
        token,
        outcome="over-budget",
        reason="spent $2.10 of a $2.00 budget",
        spent={"usd": 2.1, "tokens": 52000},
        usage=usage(2.1, 52000),
    )
    ids["dead"], token = claimed(fleet, "Upgrade the queue", team="data", priority="critical")
    fleet.fail(ids["dead"], error="the queue's API changed", token=token, permanent=True)
    return ids


def usage(usd: float, tokens: int, coder_model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    """A run's usage as the runner's meter hands it over: a cost its coder reported."""
    split = {"input": tokens // 2, "cached_input": 0, "cache_write": 0, "output": tokens // 2}
    return {
        "model": coder_model,
        "models": {coder_model: {**split, "reasoning": 0}},
        "cost_usd": usd,
    }
