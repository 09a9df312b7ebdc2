"""What a run's tokens cost: the coder's own figure when it reports one, else an estimate
from the price table shipped with aof (``aof/coders/prices.json``), else unknown.

The table is pinned: a ``version`` (the date its list prices were read) and, per model, USD
per million tokens of each kind. A run's usage is kept per model, each with the same five
kinds of token:

================  ==============================================================
``input``         input not read from a cache (Codex's and Gemini's ``input`` minus
                  their ``cached`` part; Claude's ``input_tokens`` as it is)
``cached_input``  input read from a cache, at the cached rate
``cache_write``   input written to a cache (Claude's cache creation), at its rate
``output``        output, at the output rate
``reasoning``     reasoning or thinking tokens a coder counts apart from its output
                  (Codex's ``reasoning_output_tokens``, Gemini's ``thoughts``), at the
                  output rate: ccusage's formula for Codex
================  ==============================================================

:func:`price` gives the cost and where it came from: ``reported`` (the coder's figure, kept
as it is, to the cent and beyond), ``estimated`` (every model's tokens priced from the
table) or ``unknown`` (no figure, and a model the table does not know, or no tokens at all):
aof never makes a price up. Pure: no clock, no files but the table shipped in the package.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

KINDS = ("input", "cached_input", "cache_write", "output", "reasoning")
SOURCES = ("reported", "estimated", "unknown")
TABLE = Path(__file__).with_name("prices.json")


@cache
def table() -> dict[str, Any]:
    """The price table shipped with aof: ``version``, ``sources`` and ``models``."""
    data: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    return data


def version() -> str:
    """The price table's version: the date its list prices were read."""
    return str(table()["version"])


def normalize(model: str) -> str:
    """A model id as the table spells it: lower case, without a provider prefix
    (``anthropic/``, ``models/``), a long-context marker (``[1m]``) or a Vertex date
    (``@20250929``)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    return name.split("[", 1)[0].split("@", 1)[0]


def rates(model: str | None) -> dict[str, float] | None:
    """USD per million tokens of each kind for ``model``, None when the table does not know
    it. A dated or suffixed id takes the rates of the longest entry it extends
    (``claude-sonnet-4-5-20250929`` is ``claude-sonnet-4-5``)."""
    if not model:
        return None
    models: dict[str, dict[str, float]] = table()["models"]
    name = normalize(model)
    if name in models:
        return models[name]
    extended = [key for key in models if name.startswith(key + "-")]
    return models[max(extended, key=len)] if extended else None


def tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The five kinds of token of one model's usage (missing kinds are 0)."""
    return {kind: _int(usage.get(kind)) for kind in KINDS}


def estimate(model: str | None, usage: dict[str, Any]) -> float | None:
    """The list-price cost of ``usage`` (one model's tokens) in USD, None for an unknown
    model. Reasoning is priced as output; a cache write without a rate of its own as input."""
    r = rates(model)
    if r is None:
        return None
    t = tokens(usage)
    total = (
        t["input"] * r["input"]
        + t["cached_input"] * r.get("cached_input", r["input"])
        + t["cache_write"] * r.get("cache_write", r["input"])
        + (t["output"] + t["reasoning"]) * r["output"]
    )
    return total / 1_000_000


def price(models: dict[str, dict[str, Any]], reported: float | None) -> tuple[float | None, str]:
    """(cost in USD, source) of a run that used ``models`` (model -> its usage) and for which
    the coder reported ``reported`` USD (None: it reported nothing)."""
    if reported is not None:
        return float(reported), "reported"
    used = {m: u for m, u in models.items() if any(tokens(u).values())}
    if not used:
        return None, "unknown"
    costs = [estimate(m, u) for m, u in used.items()]
    if any(c is None for c in costs):
        return None, "unknown"
    return round(sum(c for c in costs if c is not None), 6), "estimated"


def total(models: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The tokens of every model added up, by kind."""
    out = dict.fromkeys(KINDS, 0)
    for usage in models.values():
        for kind, n in tokens(usage).items():
            out[kind] += n
    return out


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


__all__ = ["KINDS", "SOURCES", "estimate", "price", "rates", "table", "tokens", "total", "version"]
