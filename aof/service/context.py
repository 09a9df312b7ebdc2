"""What the whole-fleet operations (:mod:`aof.ops`) see of a fleet: a typed view.

:class:`aof.Fleet` is one. The operations above the service take an object with these members
rather than the facade, so they do not import the layer above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..store.context import FleetContext

if TYPE_CHECKING:
    from ..journal.audit import Actor
    from ..knowledge.items import Knowledge
    from ..model.task import Task
    from ..registry.entries import Registry


class ServiceContext(FleetContext, Protocol):
    """A fleet's stores (:class:`aof.store.context.FleetContext`), its registry and
    knowledge, and the verbs the operations call."""

    @property
    def registry(self) -> Registry: ...
    @property
    def knowledge(self) -> Knowledge: ...

    def get_task(self, ref: str) -> Task: ...

    def adopt(self, path: Path, *, actor: Actor | None = None) -> Task: ...

    def desired_states(
        self, at: Any = None, teams: Sequence[str] | None = None
    ) -> dict[str, Any]: ...

    def plan(
        self, at: Any = None, snapshot: dict[str, Any] | None = None, *, pull: bool = False
    ) -> dict[str, Any]: ...

    def apply(
        self,
        result: dict[str, Any],
        *,
        kinds: Sequence[str] = ("expire", "block", "notify", "review_waiting"),
        actor: Actor | None = None,
    ) -> list[dict[str, Any]]: ...


__all__ = ["ServiceContext"]
