"""Files that ship with aof: the template of a new fleet root and aof's JSON schemas.

Inside an installed wheel they sit in the package (``aof/fleet_root_template``,
``aof/schemas``); in a source checkout beside it (``fleet-root-template/``, ``schemas/``).
"""

from __future__ import annotations

from pathlib import Path


def resource(*parts: str) -> Path:
    """A packaged resource: inside the wheel, or beside the package in a source checkout."""
    here = Path(__file__).resolve().parents[1]  # the aof package
    packaged = here.joinpath(*parts)
    if packaged.exists():
        return packaged
    return here.parent.joinpath(
        *(p.replace("_", "-") if i == 0 else p for i, p in enumerate(parts))
    )


def template_dir() -> Path:
    """The template every new fleet root is copied from (``aof init``)."""
    return resource("fleet_root_template")


def schemas_dir() -> Path:
    """aof's JSON schemas (``<name>.schema.json``), which lint validates against."""
    return resource("schemas")


__all__ = ["resource", "schemas_dir", "template_dir"]
