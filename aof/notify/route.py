"""Which channels an event goes to: the rules of aof.yaml's ``notify`` section.

A rule matches an event when it names the event (or ``all``), the event is at least the
rule's ``min_severity``, and, when the rule names ``teams`` or ``projects``, the event's task
belongs to one of them. An event goes to the channels of every rule that matches it, each
channel once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.notify import ALL, RETRY, SEVERITY_RANK, STORM_PER_MINUTE


def matches(rule: Mapping[str, Any], ev: Mapping[str, Any]) -> bool:
    """Whether ``rule`` takes event ``ev`` (its ``event``, ``severity``, ``team``, ``project``)."""
    events = rule.get("events") or []
    if ALL not in events and ev.get("event") not in events:
        return False
    floor = SEVERITY_RANK.get(str(rule.get("min_severity") or "info"), 0)
    if SEVERITY_RANK.get(str(ev.get("severity")), 1) < floor:
        return False
    for key, field in (("teams", "team"), ("projects", "project")):
        wanted = rule.get(key)
        if wanted and ev.get(field) not in wanted:
            return False
    return True


def channels_for(ev: Mapping[str, Any], section: Mapping[str, Any] | None) -> list[str]:
    """The channels ``ev`` goes to under ``section`` (aof.yaml's ``notify``), in rule order."""
    if not section:
        return []
    known = section.get("channels") or {}
    out: list[str] = []
    for rule in section.get("rules") or []:
        if isinstance(rule, Mapping) and matches(rule, ev):
            out.extend(c for c in rule.get("channels") or [] if c in known and c not in out)
    return out


def storm_limit(section: Mapping[str, Any]) -> int:
    return int(section.get("storm_per_minute") or STORM_PER_MINUTE)


def retry_settings(section: Mapping[str, Any]) -> dict[str, float]:
    """``attempts``, ``base_s`` and ``max_s`` of the retries (aof.yaml's ``notify.retry``)."""
    return {**RETRY, **(section.get("retry") or {})}


__all__ = ["channels_for", "matches", "retry_settings", "storm_limit"]
