"""What the parts of aof built on the stores see of a fleet: a typed view, not the service.

The registry, knowledge, the planner's inputs and the whole-fleet operations take an object
with these members (:class:`aof.Fleet` is one) rather than importing the service layer above
them. A part that needs more (the registry, a task by id) extends this protocol with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..clock import Clock, IdSource
    from ..journal.audit import Actor, AuditLog
    from ..journal.git import Committer
    from ..model.config import Config
    from ..model.task import State
    from .tasks import TaskStore


class FleetContext(Protocol):
    """A fleet root's stores, clock, actor and journal (audit trail and committer)."""

    @property
    def root(self) -> Path: ...
    @property
    def config(self) -> Config: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def ids(self) -> IdSource: ...
    @property
    def actor(self) -> Actor: ...
    @property
    def tasks(self) -> TaskStore: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def git(self) -> Committer: ...

    def list_tasks(
        self,
        *,
        states: Iterable[State | str] | None = None,
        team: str | None = None,
        project: str | None = None,
        priority: str | None = None,
        labels: Sequence[str] = (),
        holder: str | None = None,
        text: str | None = None,
        problems: list[str] | None = None,
        invalid: bool = False,
    ) -> list[dict[str, Any]]: ...
