"""Hand-written tasks: a Markdown file a person dropped in ``tasks/backlog/`` or ``tasks/ready/``.

A person may write a task with nothing but a title, under any file name::

    ---
    title: Fix the login redirect
    priority: high            # any other task field may be given too
    ---
    The body, as long as you like.

or without frontmatter at all, when its first line is a ``# Heading`` (the heading is the
title; the lines after it are the body). Such a file is a *draft*: the daemon's next sweep
(:mod:`aof.ops.edits`) and ``aof doctor --fix`` adopt it (:meth:`aof.Fleet.adopt`): the id,
``schema``, ``created`` and ``created_by`` are filled in, the file is renamed to
``<id>-<slug>.md`` in the same directory, and the creation is audited and committed as the
person's. Only files whose name is not a task file name (``t-<id>-<slug>.md``) are drafts,
and a file whose frontmatter has an ``id`` never is one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ValidationError
from ..files import cardfile
from ..files.safefs import read_regular
from ..model.task import id_from_filename
from .summary import ADOPTED_IN

if TYPE_CHECKING:
    from .tasks import TaskStore


class Draft(NamedTuple):
    """What a person wrote: where, the card as read (to keep their formatting and to notice a
    change before it is replaced), the task fields and the body."""

    path: Path
    card: cardfile.Card
    meta: dict[str, Any]
    body: str


def read_draft(path: Path) -> Draft | None:
    """The draft at ``path``, or None when the file is not one (or is gone)."""
    try:  # never through a link, never a FIFO or device (aof.files.safefs)
        raw, st = read_regular(path, cardfile.MAX_CARD_BYTES)
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError, ValidationError):
        return None
    if cardfile.SPLIT.match(text):
        try:
            card = cardfile.parse(text, path)
        except ValidationError:
            return None
    else:  # no frontmatter: the whole text is the body
        card = cardfile.Card(meta={}, body=text, text=text, canonical=False)
    card.stamp = cardfile.Stamp.of(st)
    meta = dict(card.meta)
    if "id" in meta:
        return None
    body = card.body
    if not meta.get("title"):
        heading = _heading(body)
        if heading is None:
            return None
        meta["title"], body = heading
    return Draft(path, card, meta, body)


def _heading(text: str) -> tuple[str, str] | None:
    """(title, rest) when the first non-blank line of ``text`` is ``# Title``."""
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or not lines[first].startswith("# ") or not lines[first][2:].strip():
        return None
    return lines[first][2:].strip(), "\n".join(lines[first + 1 :]).lstrip("\n")


def drafts(store: TaskStore) -> Iterator[tuple[Path, Draft]]:
    """Each draft in the directories people may drop them in: files whose name is not a
    task file name (task files are aof's; reading them all here would cost a listing)."""
    names = [e for _s, e in store.scan(ADOPTED_IN, ordered=False) if not id_from_filename(e.name)]
    for entry in sorted(names, key=lambda e: (os.path.dirname(e.path), e.name)):
        if entry.is_symlink():
            continue
        path = Path(entry.path)
        draft = read_draft(path)
        if draft is not None:
            yield path, draft


__all__ = ["Draft", "drafts", "read_draft"]
