"""The JSON schemas a fleet root carries for editors: ``schemas/`` in the root.

``aof init`` copies aof's schemas there (committed, so every clone of the fleet root has
them), ``aof.yaml`` names its schema by relative path (a yaml-language-server modeline) and
``.vscode/settings.json`` maps ``aof.yaml`` and ``workflows/*.yaml`` to theirs. After an
upgrade the copies may differ from the installed aof's: ``aof doctor`` says so and ``--fix``
refreshes them. aof itself always validates with its own schemas, never with these copies.
"""

from __future__ import annotations

from pathlib import Path

from .. import layout
from ..files import cardfile
from ..model.resources import schemas_dir

DIR = layout.SCHEMAS


def installed() -> dict[str, str]:
    """File name -> text of every schema of the installed aof."""
    return {
        p.name: p.read_text(encoding="utf-8") for p in sorted(schemas_dir().glob("*.schema.json"))
    }


def stale(root: Path) -> list[str]:
    """The root's schema copies (``schemas/<name>``) that are missing or differ."""
    out = []
    for name, text in installed().items():
        try:
            same = (layout.schemas(root) / name).read_text(encoding="utf-8") == text
        except OSError:
            same = False
        if not same:
            out.append(f"{DIR}/{name}")
    return out


def write(root: Path, rels: list[str]) -> None:
    """Write the installed schema of each ``schemas/<name>`` in ``rels`` into the root."""
    texts = installed()
    layout.schemas(root).mkdir(exist_ok=True)
    for rel in rels:
        path = root / rel
        text = texts[path.name]
        if path.exists():
            cardfile.replace(path, text)
        else:
            cardfile.write_new(path, text)
