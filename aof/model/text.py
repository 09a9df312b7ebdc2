"""The text of a task's body: its ``## `` sections, and entries appended to them.

aof appends dated, attributed entries (Work Log, Questions, Review ...) to a body a person may
also edit; a person's or an agent's text is contained in its entry, so it can neither start a
section nor forge an entry of its own.
"""

from __future__ import annotations

import re


def section(body: str, heading: str) -> str:
    """The text under the line ``## heading`` up to the next line that starts with ``## ``
    ("" when absent). Only whole lines count: ``### heading`` or a mention of
    ``## heading`` inside a line is text, not the section."""
    marker = f"## {heading}"
    lines = body.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == marker), None)
    if start is None:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
    return "\n".join(lines[start + 1 : end]).strip()


def contained(text: str) -> str:
    """``text`` as one entry of a section: every line after the first is indented by two
    spaces, so a note, question or summary can neither start a ``## `` section nor forge a
    ``- <time> <actor>: ...`` line of its own (a lone CR counts as a line break, as in Markdown).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rest = (
        "  " + ("\\" + ln.lstrip() if _LOOKS_OWN.match(ln) else ln) if ln.strip() else ""
        for ln in lines[1:]
    )
    return "\n".join([lines[0], *rest])


# A heading, or what looks like an entry aof writes (``- 2026-11-30T09:00:00Z actor: ...``).
_LOOKS_OWN = re.compile(r"\s*(?:#|[-*+]\s+_?\d{4}-\d\d-\d\dT)")


def defused(line: str) -> str:
    """A person's text that starts an entry: a leading ``#`` or list marker is escaped."""
    return "\\" + line if line.startswith(("#", "- ", "* ", "+ ")) else line


def append_section(body: str, heading: str, text: str) -> str:
    """Append ``text`` under ``## heading`` (created at the end of the body when missing).

    ``text``'s first line is written as given (aof builds it); the rest stays inside the entry
    (see :func:`contained`).
    """
    text = contained(text)
    marker = f"## {heading}"
    lines = body.split("\n")
    if marker in (ln.rstrip() for ln in lines):
        start = next(i for i, ln in enumerate(lines) if ln.rstrip() == marker)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        new = [*lines[:end], text, *([""] if end < len(lines) else []), *lines[end:]]
        out = "\n".join(new)
        return out if out.endswith("\n") else out + "\n"
    base = body.rstrip("\n")
    return (base + "\n\n" if base else "") + f"{marker}\n\n{text}\n"


HANDOFF = "Hand-off"  # notes a run left for the next attempt as its context filled
HANDOFF_MAX = 3000  # characters of one hand-off note
HANDOFF_KEEP = 3  # hand-off notes a body keeps (the newest)


def append_capped(body: str, heading: str, text: str, *, limit: int, keep: int) -> str:
    """:func:`append_section` of ``text`` cut to ``limit`` characters, keeping only the
    newest ``keep`` entries (lines starting ``- ``, with their indented lines) of the section."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    lines = append_section(body, heading, text).split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.rstrip() == f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    entries = [i for i in range(start, end) if lines[i].startswith("- ")]
    if len(entries) <= keep:
        return "\n".join(lines)
    return "\n".join([*lines[: entries[0]], *lines[entries[-keep] :]])


__all__ = ["HANDOFF", "append_capped", "append_section", "contained", "defused", "section"]
