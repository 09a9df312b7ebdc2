"""aof.yaml's ``reactions``: how the pr gate reacts to a pull request's condition, checked
when aof.yaml is loaded (no setting is accepted and then ignored). The reactions themselves
are :mod:`aof.forge.reactions`."""

from __future__ import annotations

from typing import Any

# Reaction -> the actions it may take, and the settings it knows.
REACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ci_failed": (("send_back", "notify"), ("action", "retries")),
    "changes_requested": (("send_back", "notify"), ("action", "retries")),
    "merge_conflict": (("send_back", "notify"), ("action", "retries")),
    "closed": (("cancel", "notify"), ("action",)),
    "stuck": (("notify",), ("action", "after_s")),
}


def validate_reactions(value: Any, bad: Any) -> None:
    """``bad(field, message)`` makes the error naming aof.yaml's field and the value."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad("reactions", f"must be a mapping of reactions (got {value!r})")
    for name, spec in value.items():
        if name not in REACTIONS:
            known = ", ".join(REACTIONS)
            raise bad(f"reactions.{name}", f"is not a reaction ({known})")
        actions, keys = REACTIONS[name]
        if not isinstance(spec, dict):
            raise bad(f"reactions.{name}", f"must be a mapping of {', '.join(keys)} (got {spec!r})")
        for key, v in spec.items():
            where = f"reactions.{name}.{key}"
            if key not in keys:
                raise bad(where, f"is not a setting of {name} ({', '.join(keys)})")
            if key == "action" and v not in actions:
                raise bad(where, f"must be one of {', '.join(actions)} (got {v!r})")
            if key == "retries" and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise bad(where, f"must be a whole number >= 0 (got {v!r})")
            if key == "after_s" and (
                isinstance(v, bool) or not isinstance(v, int | float) or v < 0
            ):
                raise bad(where, f"must be a number of seconds >= 0; 0 turns it off (got {v!r})")
