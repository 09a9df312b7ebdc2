"""A person's search text turned into an SQLite FTS5 query that cannot be a syntax error.

What a query may say::

    deploy rollback        both words (stemmed: "rollbacks" matches too)
    "blue green deploy"    the exact phrase
    rebas*                 any word starting with "rebas"
    deploy OR release      either word
    -staging               not this word (needs at least one word that is wanted)
    title:checklist        the word in one field: title, summary, body or tags

Everything else is taken as words: punctuation inside a word (``c++``, ``foo-bar``,
``a:b``) is quoted, so FTS5's own operators and column syntax never leak through, and
an unbalanced quote runs to the end of the text.

A query is bounded, since its cost in SQLite grows faster than its number of terms: at
most ``MAX_CHARS`` characters and ``MAX_TERMS`` different terms (a repeated term counts
once and is searched once); more is refused with an error naming the limit.

The search's filters become SQL conditions here too (:func:`where_of`), and a match's
highlighted text a short snippet (:func:`snippet`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ValidationError

COLUMNS = ("title", "summary", "body", "tags")
MAX_CHARS = 512
MAX_TERMS = 32
_WORDY = re.compile(r"\w")
_COLUMN = re.compile(r"(title|summary|body|tags):(?=\S)")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def terms(text: str) -> list[tuple[str, str, str | None, bool, bool]]:
    """(kind, text, column, negated, prefix) for each piece; kind is "term" or "or"."""
    out: list[tuple[str, str, str | None, bool, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        column = None
        match = _COLUMN.match(text, i)
        if match:
            column = match.group(1)
            i = match.end()
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            word = text[i + 1 : end]
            i = end + 1
            prefix = i < n and text[i] == "*"
            if prefix:
                i += 1
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            word = text[start:i]
            prefix = word.endswith("*")
            word = word.rstrip("*")
            if word == "OR" and not negated and column is None and not prefix:
                out.append(("or", "OR", None, False, False))
                continue
        if _WORDY.search(word):
            out.append(("term", word, column, negated, prefix))
    return out


def to_fts(text: str) -> str | None:
    """The FTS5 MATCH expression for ``text``; None when it has no word to search for."""
    if len(text) > MAX_CHARS:
        raise ValidationError(
            f"text: {len(text)} characters, more than the {MAX_CHARS} a search may have"
        )
    wanted: list[str] = []
    unwanted: list[str] = []
    seen: set[tuple[bool, str]] = set()
    pending_or = False
    for kind, word, column, negated, prefix in terms(text):
        if kind == "or":
            pending_or = bool(wanted)
            continue
        expr = _quote(" ".join(word.split())) + ("*" if prefix else "")
        if column:
            expr = f"{column} : {expr}"
        if (negated, expr) in seen and not pending_or:
            continue
        seen.add((negated, expr))
        if len(seen) > MAX_TERMS:
            raise ValidationError(
                f"text: more than the {MAX_TERMS} different terms a search may have"
            )
        if negated:
            unwanted.append(expr)
            continue
        if pending_or:
            wanted.append("OR")
            pending_or = False
        wanted.append(expr)
    if not wanted:
        if unwanted:
            raise ValidationError(
                f"text: {text!r} only excludes words; say at least one word to look for"
            )
        return None
    expr = " ".join(wanted)
    if unwanted:
        expr = f"({expr}) NOT ({' OR '.join(unwanted)})"
    return expr


# --- search SQL: the filters as conditions, the highlighted text as a snippet ----------

OPEN, CLOSE = "\x02", "\x03"  # highlight marks (control characters a card cannot hold)
SNIPPET_WORDS = 16


def snippet(columns: Sequence[str | None]) -> str | None:
    """About ``SNIPPET_WORDS`` words around the first match of the column with the most
    matches (title first on a tie), matches in ``**``, ``…`` where the text goes on."""
    best = max(columns, key=lambda text: (text or "").count(OPEN), default=None)
    if not best or OPEN not in best:
        return None
    at = best.index(OPEN)
    before = best[:at].split()
    after = best[at:].split()
    lead = max(0, min(len(before), SNIPPET_WORDS // 4))
    words = before[len(before) - lead :] + after[: SNIPPET_WORDS - lead]
    text = " ".join(words)
    opened = text.count(OPEN) - text.count(CLOSE)
    text = text + CLOSE * opened
    text = text.replace(OPEN, "**").replace(CLOSE, "**")
    head = "…" if len(before) > lead else ""
    tail = "…" if len(after) > SNIPPET_WORDS - lead else ""
    return head + text + tail


def where_of(
    types: Sequence[str],
    scope: str | None,
    scope_ref: str | None,
    kinds: Sequence[str],
    tags: Sequence[str],
    min_confidence: int | None,
    keys: Iterable[int] | None,
) -> tuple[list[str], list[Any]]:
    """SQL conditions (on ``items i``) and their arguments for the filters."""
    where, args = ["i.error IS NULL"], list[Any]()
    if types:
        where.append(f"i.type IN ({','.join('?' * len(types))})")
        args.extend(types)
    if scope:
        where.append("i.scope = ?")
        args.append(scope)
    if scope_ref:
        where.append("i.scope_ref = ?")
        args.append(scope_ref)
    if kinds:
        where.append(f"i.kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    for tag in sorted({t.casefold() for t in tags}):
        where.append("i.id IN (SELECT item FROM tags WHERE tag = ?)")
        args.append(tag)
    if min_confidence is not None:
        where.append("i.confidence >= ?")
        args.append(min_confidence)
    if keys is not None:
        ids = list(keys)
        where.append(f"i.id IN ({','.join('?' * len(ids))})" if ids else "0")
        args.extend(ids)
    return where, args
