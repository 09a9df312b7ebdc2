"""Round-trip YAML through ruamel.yaml, guarded: what reads a card aof did not write itself.

Cards in aof's own style go through :mod:`aof.files.yamlfast`; any other frontmatter (a
person's comments, quoting or layout) is read here in ruamel's round-trip mode, so edits can
be applied to its ``CommentedMap`` and comments, key order and quoting survive
(:func:`aof.files.cardfile.render`). ruamel is imported on first use only.

Hostile YAML is refused before it costs anything: anchors and aliases (no alias bombs),
nesting deeper than :data:`MAX_YAML_DEPTH` (no recursion-limit crashes), counted before
ruamel's scanner sees the brackets. A syntax error is reported at the line a person must fix
(:func:`yaml_problem`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from . import yamlfast

MAX_YAML_DEPTH = 64  # nesting of mappings and lists; aof's own files need fewer than 10


class YamlRefused(Exception):
    """A construct aof refuses to compose: an anchor, an alias or nesting beyond MAX_YAML_DEPTH."""

    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line  # 0-based, in the text that was parsed


_COMPOSER: Any = None  # built once, on the first round-trip parse (ruamel loads lazily)


def _guarded_composer() -> Any:
    """ruamel's composer, refusing anchors, aliases and deep nesting as the events stream in.

    ruamel's scanner and parser are iterative; its composer and constructor recurse once per
    level and an alias is expanded into a fresh object per use when made plain. Checking here,
    before a node is composed, means a 500-byte alias bomb never expands and 50,000 nested
    brackets never reach the recursion limit.
    """
    global _COMPOSER
    if _COMPOSER is not None:
        return _COMPOSER
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class GuardedComposer(Composer):
        nesting = 0  # not ``depth``: newer ruamel composers count that themselves

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.parser.peek_event()
            line = event.start_mark.line if event.start_mark is not None else 0
            if isinstance(event, AliasEvent):
                raise YamlRefused(f"alias *{event.anchor} (aof refuses anchors and aliases)", line)
            if getattr(event, "anchor", None) is not None:
                raise YamlRefused(f"anchor &{event.anchor} (aof refuses anchors and aliases)", line)
            if self.nesting >= MAX_YAML_DEPTH:
                raise YamlRefused(f"nested more than {MAX_YAML_DEPTH} levels deep", line)
            self.nesting += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.nesting -= 1

    _COMPOSER = GuardedComposer
    return _COMPOSER


_BRACKET = re.compile(r"[\[\]{}]")


def check_brackets(text: str) -> None:
    """Refuse more than MAX_YAML_DEPTH unclosed ``[``/``{`` before ruamel scans them.

    ruamel's scanner is slow (quadratic in the open brackets of a line) before its composer
    gets to refuse the depth; counting brackets, quoted or not, is linear and cheap.
    """
    depth = 0
    for match in _BRACKET.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = text.count("\n", 0, match.start())
                raise YamlRefused(f"nested more than {MAX_YAML_DEPTH} levels deep", line)
        elif depth:
            depth -= 1


def yaml_rt() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.Composer = _guarded_composer()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.allow_duplicate_keys = False
    return yaml


def to_plain(value: Any) -> Any:
    """Turn ruamel's round-trip objects into plain dicts, lists, str, int, float, bool, None."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, datetime):
        from ..clock import format_time

        if value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def load_rt(front: str, path: Path | str, first_line: int = 2) -> Any:
    """Parse YAML text in round-trip mode; errors name ``path`` and the line (card-relative)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        check_brackets(front)
        doc = yaml_rt().load(front)
    except YamlRefused as exc:
        raise ValidationError(f"{path}:{exc.line + first_line}: {exc.problem}") from None
    except MarkedYAMLError as exc:
        line, problem = yaml_problem(front, exc)
        raise ValidationError(f"{path}:{line + first_line}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise ValidationError(f"{path}:{first_line}: invalid YAML: {exc}") from None
    if doc is None:
        from ruamel.yaml.comments import CommentedMap

        doc = CommentedMap()
    if not isinstance(doc, dict):
        raise ValidationError(f"{path}:2: frontmatter must be a mapping of keys to values")
    return doc


def parse_value(text: str) -> Any:
    """One value typed by a person, read as YAML 1.2: ``5``, ``true``, ``[a, b]``, ``{usd: 5}``
    and ``null`` are what they say; anything that is not valid YAML stays the text it is."""
    try:
        return yamlfast.parse_scalar(text)  # the common cases, without importing ruamel
    except yamlfast.NotCanonical:
        pass
    from ruamel.yaml.error import YAMLError

    try:
        check_brackets(text)
        return to_plain(yaml_rt().load(text))
    except (YAMLError, YamlRefused):
        return text


def yaml_problem(text: str, exc: Any) -> tuple[int, str]:
    """(0-based line, message) of a YAML syntax error, at the line a person must fix.

    The YAML scanner reports where it gave up, which is the end of the token it was reading:
    an unclosed quote swallows the following lines up to the next quote (or the end), so the
    error lands lines after the quote that opened it. Blame that quote instead, and likewise
    the bracket of a ``[...]`` or ``{...}`` that is never closed.
    """
    mark = exc.problem_mark or exc.context_mark
    line = mark.line if mark is not None else 0
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context = exc.context or ""
    opened = exc.context_mark.line if exc.context_mark is not None else line
    if context.startswith("while scanning a quoted scalar"):
        return opened, "a quoted value starts here and its closing quote is missing"
    quote = _quote_that_ran_on(text, line)
    if quote is not None:
        return quote, "a quoted value starts here and is not closed on this line"
    if context.startswith("while parsing a flow") and opened < line:
        what = "[ ... ] list" if "sequence" in context else "{ ... } mapping"
        return opened, f"a {what} starts here and is not closed ({problem})"
    return line, problem


def _quote_that_ran_on(text: str, line: int) -> int | None:
    """The line where a quoted scalar that ends on ``line`` (0-based) began on an earlier one."""
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.tokens import ScalarToken

    found = None
    try:
        for token in yaml_rt().scan(text):
            if (
                isinstance(token, ScalarToken)
                and token.style in ("'", '"')
                and token.start_mark.line < token.end_mark.line == line
            ):
                found = token.start_mark.line
    except YAMLError:
        pass
    return found
