"""A canonical YAML subset: one fixed style that aof writes, and a strict parser for exactly it.

Why: ruamel.yaml's round-trip mode keeps a human's comments and quoting, but costs ~1 ms per
card to parse and ~35 ms to import. Nearly every task file is written by aof itself, so aof
writes one canonical style (:func:`dump`) and reads it back with :func:`load`, a strict
line parser that raises :class:`NotCanonical` on anything it does not fully understand. The
card layer (``aof.files.cardfile``) treats a file as canonical only when
``dump(load(text)) == text`` byte for byte; every other file (hand-edited, commented, re-ordered)
goes through ruamel's
round-trip mode, so nothing a human wrote is ever lost or reinterpreted.

The style: block mappings indented by 2, block sequences with ``- `` at +2 (ruamel's
``indent(mapping=2, sequence=4, offset=2)``), ``[]``/``{}`` for empty collections, ``null``,
``true``/``false``, decimal ints, ``repr`` floats, strings plain when that is unambiguous under
YAML 1.1 and 1.2 alike, otherwise single-quoted, or double-quoted when they hold a newline or a
non-printable character. Tests check with hypothesis that ruamel reads back exactly what
:func:`dump` wrote, and that :func:`load` agrees with ruamel.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


class NotCanonical(Exception):
    """The text is valid YAML, maybe, but not in aof's canonical style."""


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_ITEM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*:(?: |\Z)")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?\Z")
# Words that some YAML reader (1.1 or 1.2) resolves to null or a bool.
_RESERVED = frozenset(["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"])
_PLAIN_FIRST = re.compile(r"[A-Za-z_/(]")
_PLAIN_BAD = re.compile(r"[#\[\]{},`\"'\\&*!|>%@\t\n\r]|: |:\Z|\s\Z")


# Characters a YAML scalar may not hold unescaped (the complement of c-printable, plus the
# BOM); written as the complement because compiling the negated class costs 4.7 ms at import.
_NOT_PRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(ch: str) -> bool:
    return not _NOT_PRINTABLE.match(ch)


def plain_ok(text: str) -> bool:
    """True when ``text`` may be written unquoted: every YAML reader reads it back as this str."""
    if not text or text.lower() in _RESERVED:
        return False
    first = text[0]
    if not (_PLAIN_FIRST.match(first) or (ord(first) > 0x7F and first.isalpha())):
        return False
    return not _PLAIN_BAD.search(text) and not _NOT_PRINTABLE.search(text)


def _quote(text: str) -> str:
    if not _NOT_PRINTABLE.search(text):
        return "'" + text.replace("'", "''") + "'"
    out = []
    for ch in json.dumps(text, ensure_ascii=False)[1:-1]:
        out.append(ch if _printable(ch) or ch == "\\" else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def scalar(value: Any) -> str:
    """Render one scalar in canonical style; raise NotCanonical for types outside the subset."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotCanonical(f"float {value!r}")
        text = repr(value)
        if not _FLOAT.match(text):
            raise NotCanonical(f"float {value!r}")
        return text
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise NotCanonical("lone surrogate in string")
        return value if plain_ok(value) else _quote(value)
    raise NotCanonical(f"type {type(value).__name__}")


def dump(data: dict[str, Any]) -> str:
    """Render a mapping in canonical style (always ends with a newline; ``{}`` for empty)."""
    if not data:
        return "{}\n"
    lines: list[str] = []
    _mapping(data, 0, lines)
    return "\n".join(lines) + "\n"


def _key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise NotCanonical(f"key {key!r}")
    return key


def _mapping(data: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        head = pad + _key(key) + ":"
        if isinstance(value, dict):
            if value:
                lines.append(head)
                _mapping(value, indent + 2, lines)
            else:
                lines.append(head + " {}")
        elif isinstance(value, list):
            if value:
                lines.append(head)
                _sequence(value, indent + 2, lines)
            else:
                lines.append(head + " []")
        else:
            lines.append(head + " " + scalar(value))


def _sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict):
            if not item:
                lines.append(pad + "- {}")
                continue
            sub: list[str] = []
            _mapping(item, indent + 2, sub)
            lines.append(pad + "- " + sub[0][indent + 2 :])
            lines.extend(sub[1:])
        elif isinstance(item, list):
            raise NotCanonical("nested sequence")
        else:
            lines.append(pad + "- " + scalar(item))


def parse_scalar(token: str) -> Any:
    """Read one canonical scalar token; raise NotCanonical if it is not one."""
    if token == "null":
        return None
    if token == "true":
        return True
    if token == "false":
        return False
    if token == "[]":
        return []
    if token == "{}":
        return {}
    first = token[:1]
    if first == "'":
        if len(token) < 2 or not token.endswith("'"):
            raise NotCanonical(token)
        inner = token[1:-1]
        if "'" in inner.replace("''", ""):
            raise NotCanonical(token)
        return inner.replace("''", "'")
    if first == '"':
        try:
            value = json.loads(token)
        except ValueError as exc:
            raise NotCanonical(token) from exc
        if not isinstance(value, str):
            raise NotCanonical(token)
        return value
    if _INT.match(token):
        return int(token)
    if _FLOAT.match(token):
        return float(token)
    if plain_ok(token):
        return token
    raise NotCanonical(token)


def load(text: str) -> dict[str, Any]:
    """Parse canonical text back into plain dicts, lists and scalars, or raise NotCanonical."""
    if text == "{}\n":
        return {}
    lines = text.split("\n")
    if lines[-1] != "":
        raise NotCanonical("missing final newline")
    lines.pop()
    pos, value = _parse_mapping(lines, 0, 0)
    if pos != len(lines):
        raise NotCanonical(f"line {pos + 1}: unexpected indentation")
    return value


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _split_entry(line: str, indent: int) -> tuple[str, str | None]:
    body = line[indent:]
    key, sep, rest = body.partition(":")
    if not sep or not _KEY.match(key):
        raise NotCanonical(line)
    if rest == "":
        return key, None
    if not rest.startswith(" ") or rest.startswith("  "):
        raise NotCanonical(line)
    return key, rest[1:]


def _parse_mapping(lines: list[str], pos: int, indent: int) -> tuple[int, dict[str, Any]]:
    out: dict[str, Any] = {}
    while pos < len(lines):
        line = lines[pos]
        ind = _indent_of(line)
        if ind < indent:
            break
        if ind > indent:
            raise NotCanonical(f"line {pos + 1}: unexpected indentation")
        key, rest = _split_entry(line, indent)
        if key in out:
            raise NotCanonical(f"line {pos + 1}: duplicate key {key!r}")
        pos += 1
        if rest is None:
            pos, out[key] = _parse_block(lines, pos, indent + 2)
        else:
            out[key] = parse_scalar(rest)
    return pos, out


MAX_INDENT = 128  # 64 levels: deeper text is left to the guarded round-trip parser


def _parse_block(lines: list[str], pos: int, indent: int) -> tuple[int, Any]:
    if indent > MAX_INDENT:
        raise NotCanonical(f"line {pos + 1}: nested too deep")
    if pos >= len(lines) or _indent_of(lines[pos]) != indent:
        raise NotCanonical(f"line {pos}: empty block")
    if lines[pos][indent:].startswith("- "):
        return _parse_sequence(lines, pos, indent)
    return _parse_mapping(lines, pos, indent)


def _parse_sequence(lines: list[str], pos: int, indent: int) -> tuple[int, list[Any]]:
    out: list[Any] = []
    while pos < len(lines):
        line = lines[pos]
        ind = _indent_of(line)
        if ind < indent:
            break
        if ind > indent or not line[indent:].startswith("- "):
            raise NotCanonical(f"line {pos + 1}: bad sequence item")
        item = line[indent + 2 :]
        if _ITEM_KEY.match(item):
            # A mapping inside a sequence: re-read its first line at the deeper indent
            # (``lines`` is this parse's own copy of the text, so rewriting it is safe).
            lines[pos] = " " * (indent + 2) + item
            pos, value = _parse_mapping(lines, pos, indent + 2)
            out.append(value)
        else:
            out.append(parse_scalar(item))
            pos += 1
    return pos, out
