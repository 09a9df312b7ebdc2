"""The notification hook: what the pipeline calls after each audit record is appended.

It is cheap and never touches the network: it names the record's event
(:func:`aof.notify.events.event_of`), and only when a rule of aof.yaml could route it
appends the event, with the task's title and the fingerprint of the record, to the outbox
(:mod:`aof.notify.outbox`). The daemon's delivery worker sends it. Without a ``notify``
section the pipeline does not call it at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import AofError
from . import outbox
from .events import event_of, fingerprint, make_event
from .route import channels_for


def on_record(
    root: Path,
    config: Mapping[str, Any],
    record: Mapping[str, Any],
    audit_file: str,
    subject: Callable[[], Mapping[str, Any]],
) -> dict[str, Any] | None:
    """Queue the event ``record`` raises (``audit_file``: the day file it went to, relative
    to the root; ``subject``: the task's fields, asked for only when there is an event).
    Returns the event queued, or None. Best effort: the change is already on disk, so a
    task that cannot be read or an outbox that cannot be written never undoes it."""
    section = config.get("notify")
    if not section or not section.get("rules"):
        return None
    name = event_of(record)
    if name is None:
        return None
    entity = record.get("entity") or {}
    try:
        task = dict(subject())
    except (AofError, OSError):
        task = {}
    task.setdefault("id", entity.get("id"))
    actor = record.get("actor") or {}
    reason = record.get("reason")
    blocked = (record.get("changes") or {}).get("blocked")
    if name == "asked" and isinstance(blocked, dict) and blocked.get("question"):
        reason = blocked["question"]  # the question itself, whatever --reason said
    ev = make_event(
        name,
        section,
        fp=fingerprint(audit_file, record.get("seq"), entity.get("id"), record.get("action")),
        at=str(record.get("ts")),
        reason=reason,
        task=task,
        actor=f"{actor.get('kind')}:{actor.get('id')}" if actor else None,
        action=str(record.get("action")),
    )
    return _queue(root, section, ev)


def raise_event(
    root: Path,
    config: Mapping[str, Any],
    event: str,
    reason: str,
    *,
    at: str,
    key: str = "",
    once: bool = False,
    team: str | None = None,
    project: str | None = None,
) -> dict[str, Any] | None:
    """Queue an event no audit record carries (the daemon's ``daemon_degraded``, a budget's
    ``budget_warning``): ``key`` and ``at`` tell one occurrence from another; with ``once``
    the ``key`` alone does, so the delivery worker sends it once however often it is raised.
    ``team`` and ``project``: whose event it is (for the rules' ``teams``/``projects``).
    Returns the event queued, or None."""
    section = config.get("notify")
    if not section or not section.get("rules"):
        return None
    owner = {"team": team, "project": project} if team or project else None
    ev = make_event(
        event,
        section,
        fp=fingerprint(event, key) if once else fingerprint(event, key, reason, at),
        at=at,
        reason=reason,
        task=owner,
        actor="scheduler:daemon" if owner is None else None,
    )
    if owner is not None:
        ev.pop("title", None)
    return _queue(root, section, ev)


def _queue(root: Path, section: Mapping[str, Any], ev: dict[str, Any]) -> dict[str, Any] | None:
    if not channels_for(ev, section):
        return None
    try:
        outbox.append(root, ev)
    except (OSError, AofError):
        return None  # the outbox is unwritable (disk full, a link): the audit record stays
    return ev


__all__ = ["on_record", "raise_event"]
