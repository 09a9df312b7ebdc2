"""The ``executor:`` and ``hosts:`` sections of aof.yaml: where runs execute.

``executor.kind`` is ``local`` (every run a subprocess of the coordinator's machine) or
``rq``: a run of a task whose project is placed on a host (``host:`` in its project's card)
goes to that host's RQ queue on the Redis at ``executor.redis_url``, where ``aof worker``
takes it and reports back to the coordinator's API at ``executor.api_url``.
``hosts.down_after_s``: a host whose workers sent no heartbeat for that long is down.
"""

from __future__ import annotations

from typing import Any

KINDS = ("local", "rq")
QUEUE_PREFIX = "aof:host:"


def queue_name(host: str) -> str:
    """The RQ queue of a host's runs."""
    return f"{QUEUE_PREFIX}{host}"


def validate_executor(section: Any, bad: Any) -> None:
    """ValidationError (made by ``bad(field, message)``) for anything wrong in ``executor``."""
    if not isinstance(section, dict):
        raise bad("executor", f"must be a mapping with kind (got {section!r})")
    for key in section:
        if key not in ("kind", "redis_url", "api_url"):
            raise bad(f"executor.{key}", "unknown key (keys: kind, redis_url, api_url)")
    kind = section.get("kind", "local")
    if kind not in KINDS:
        raise bad("executor.kind", f"must be local or rq (got {kind!r})")
    schemes = {
        "redis_url": ("redis://", "rediss://", "unix://"),
        "api_url": ("http://", "https://"),
    }
    for key, starts in schemes.items():
        value = section.get(key)
        if value is None:
            if kind == "rq":
                why = f"must be set when executor.kind is rq (got {value!r})"
                raise bad(f"executor.{key}", why)
            continue
        if not isinstance(value, str) or not value.startswith(starts):
            why = f"must be a URL starting with {' or '.join(starts)} (got {value!r})"
            raise bad(f"executor.{key}", why)


def validate_hosts(section: Any, bad: Any) -> None:
    """ValidationError (made by ``bad``) for anything wrong in ``hosts``."""
    if not isinstance(section, dict):
        raise bad("hosts", f"must be a mapping (got {section!r})")
    for key in section:
        if key != "down_after_s":
            raise bad(f"hosts.{key}", "unknown key (keys: down_after_s)")
    value = section.get("down_after_s", 90)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise bad("hosts.down_after_s", f"must be a number > 0 (got {value!r})")
