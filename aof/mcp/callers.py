"""Who is calling a tool, and the fleet object that acts for them.

Over stdio the caller is the process that started the server: its actor is ``--actor`` or
``AOF_ACTOR``, and an agent started by aof's runner also has ``AOF_TASK_ID`` and
``AOF_LEASE_TOKEN``, which are the default task and fencing token of its tools. Over HTTP
the caller is whoever holds the bearer token: each token maps to an actor (``--token
SECRET=agent:coder-1``), and the server's environment says nothing about them.

Every call's changes are audited and committed with the caller's actor. A claim made
through the server becomes that actor's default task and token, so an agent can claim,
report progress and complete without repeating them.

A caller acts on a held task only when it is its own: claimed by it through this server,
its environment's ``AOF_TASK_ID`` (stdio), or a lease whose holder is the caller's actor.
A token read from anywhere else is refused with the task (:meth:`Callers.own_task`).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LeaseError, ValidationError

if TYPE_CHECKING:
    from ..fleet import Fleet
    from ..fleetapi import Actor


@dataclass
class Caller:
    actor: Actor
    task: str | None = None  # default task of the task tools
    token: str | None = None  # default fencing token


class Callers:
    """The server's callers and one :class:`aof.Fleet` per actor (rebuilt when aof.yaml
    changes, so a long-running server never acts on a stale configuration)."""

    def __init__(
        self,
        root: Path,
        *,
        actor: str,
        env: Mapping[str, str],
        tokens: Mapping[str, str] | None = None,
        clock: Any = None,
        ids: Any = None,
    ) -> None:
        from ..fleetapi import parse_actor

        self.root = root
        self.local = Caller(
            parse_actor(actor), env.get("AOF_TASK_ID") or None, env.get("AOF_LEASE_TOKEN") or None
        )
        # bearer token -> actor; None: stdio (everyone is the local caller)
        self.tokens = {k: parse_actor(v) for k, v in tokens.items()} if tokens is not None else None
        self.clock, self.ids = clock, ids
        self.claims: dict[str, tuple[str, str]] = {}  # actor -> (task, token) claimed here
        self.owned: dict[str, set[str]] = {}  # actor -> every task it claimed here
        # Fleet objects per actor, and the aof.yaml stamp they were made for: one set for
        # the calls that write, one for the calls that only read.
        self._fleets: dict[bool, tuple[int | None, dict[str, Fleet]]] = {}
        # One writing call at a time per server: the fleet object's caches are not shared
        # across threads, and another process is kept out by the fleet's file locks anyway.
        self.lock = threading.RLock()
        # Reading calls take turns on their own fleet objects, never waiting behind a
        # writer nor holding one up: to them a writer here is like one in another process.
        self.read_lock = threading.RLock()

    def caller(self, headers: Mapping[str, str] | None) -> Caller:
        """The caller of one request (``headers``: its HTTP headers; None over stdio)."""
        if self.tokens is None:
            return self.local
        actor = self.actor_for(bearer(headers))
        if actor is None:  # the HTTP layer refused it already; never act unauthenticated
            raise LeaseError("unauthenticated: a bearer token is required")
        return Caller(actor)

    def actor_for(self, secret: str | None) -> Actor | None:
        if secret is None or self.tokens is None:
            return None
        for known, actor in self.tokens.items():
            if hmac.compare_digest(known.encode(), secret.encode()):
                return actor
        return None

    def fleet(self, caller: Caller, *, reader: bool = False) -> Fleet:
        """The caller's fleet object (``reader``: the one for read-only calls, used under
        :attr:`read_lock`; otherwise under :attr:`lock`)."""
        from ..fleet import Fleet

        try:
            stamp = (self.root / "aof.yaml").stat().st_mtime_ns
        except OSError:
            stamp = None
        made_for, fleets = self._fleets.get(reader, (None, {}))
        if stamp != made_for or reader not in self._fleets:
            fleets = {}
            self._fleets[reader] = (stamp, fleets)
        key = str(caller.actor)
        if key not in fleets:
            kwargs = {k: v for k, v in (("clock", self.clock), ("ids", self.ids)) if v is not None}
            fleets[key] = Fleet(self.root, actor=caller.actor, **kwargs)
        return fleets[key]

    def task_and_token(
        self, caller: Caller, task: str | None, token: str | None
    ) -> tuple[str, str | None]:
        """The task a task tool acts on and the token it presents: the arguments, else
        the caller's last claim through this server, else its environment."""
        claimed = self.claims.get(str(caller.actor))
        if task is None:
            if claimed is not None:
                task, token = claimed[0], token or claimed[1]
            elif caller.task is not None:
                task, token = caller.task, token or caller.token
            else:
                raise ValidationError(
                    "task: name the task (no task claimed through this server, and no "
                    "AOF_TASK_ID in its environment)"
                )
        elif token is None:
            if claimed is not None and claimed[0] == task:
                token = claimed[1]
            elif caller.task == task:
                token = caller.token
        return task, token

    def remember_claim(self, caller: Caller, task: str, token: str) -> None:
        self.claims[str(caller.actor)] = (task, token)
        self.owned.setdefault(str(caller.actor), set()).add(task)

    def own_task(self, caller: Caller, fleet: Fleet, task: str) -> str:
        """The id of ``task`` when the caller may act on it as its holder: a task without a
        lease, one it claimed through this server, its environment's task, or one whose
        lease holder is its actor. LeaseError otherwise (whatever token it presents)."""
        found = fleet.get_task(task)
        lease = found.lease
        if lease is None or found.state.value != "in-progress":
            return str(found.id)
        mine = found.id in self.owned.get(str(caller.actor), set()) or found.id == caller.task
        if mine or lease.get("holder") == caller.actor.id:
            return str(found.id)
        raise LeaseError(
            f"task {found.id}: held by {lease.get('holder')}, not by you ({caller.actor}): "
            "you act only on tasks you claimed"
        )

    def own_review(self, caller: Caller, fleet: Fleet, task: str, token: str | None) -> str:
        """The id of ``task`` when the caller may give its verdict: a token only for a gate
        lease of its own (its actor holds it, or the task is its environment's); without a
        token, as a person (the gates refuse an agent without one)."""
        found = fleet.get_task(task)
        holder = (found.lease or {}).get("holder")
        if token is None or holder is None:
            return str(found.id)
        if holder == caller.actor.id or found.id == caller.task:
            return str(found.id)
        raise LeaseError(
            f"task {found.id}: its gate is held by {holder}, not by you ({caller.actor}): "
            "you give a verdict only on a review you hold"
        )


def bearer(headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, secret = value.partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None
