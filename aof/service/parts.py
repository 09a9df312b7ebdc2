"""The parts of the service behind a :class:`aof.Fleet`, each built on first use.

A CLI call imports only the parts it uses: ``aof task create`` needs the pipeline and the
authoring, never the leases, the gates, the lifecycle, the outcomes, the scheduling front or
the pr gate (tests/test_imports.py lists what it loads).
"""

from __future__ import annotations

from typing import Any

PARTS = ("_leases", "_gates", "_lifecycle", "_outcomes", "_scheduling", "prs")


def build(owner: Any, name: str) -> Any:
    """The part ``name`` (one of :data:`PARTS`) over ``owner``'s ``_pipeline``, built from
    the other parts of ``owner`` it needs and kept on ``owner``; AttributeError for any other
    name (or before ``owner`` has a pipeline)."""
    pipeline = vars(owner).get("_pipeline")
    if name not in PARTS or pipeline is None:
        raise AttributeError(f"{type(owner).__name__!r} object has no attribute {name!r}")
    part: Any
    if name == "_leases":
        from .leases import Leases

        part = Leases(pipeline)
    elif name == "_gates":
        from .gates import Gates

        part = Gates(pipeline)
    elif name == "_lifecycle":
        from .lifecycle import Lifecycle

        part = Lifecycle(pipeline, owner._gates)
    elif name == "_outcomes":
        from .outcomes import Outcomes

        part = Outcomes(pipeline, owner._lifecycle)
    elif name == "_scheduling":
        from .scheduling import Scheduling

        part = Scheduling(pipeline, owner._leases)
    else:
        from .prgate import PrGate

        part = PrGate(pipeline, owner._gates)
    setattr(owner, name, part)
    return part
