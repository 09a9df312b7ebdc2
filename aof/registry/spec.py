"""What a registry noun is: its directory, schema id, fields, and how to validate them.

Every noun (team, project, host, schedule, agent) is a card ``<dir>/<slug>.md`` whose
frontmatter has ``schema: aof/<noun>/v1`` and ``slug`` matching the file name. A :class:`Noun`
describes the fields once; validation, key order, defaults and reference checks all come from
that description, so the five nouns share one code path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import ValidationError

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")

Check = Callable[[Any], str | None]  # returns a problem description, or None when fine


class Field(NamedTuple):
    name: str
    check: Check
    required: bool = False
    default: Any = None
    ref: str | None = None  # the noun this field refers to (its value, or each list item)
    help: str = ""


class Noun(NamedTuple):
    name: str  # "team"
    dir: str  # "teams"
    fields: tuple[Field, ...]
    extra: Callable[[dict[str, Any]], None] | None = None  # cross-field rules
    key: str = "slug"  # the field that names the file (knowledge facts use "id")
    home: str = ""  # the module that declares it (for the generated schema's description)

    @property
    def schema(self) -> str:
        return f"aof/{self.name}/v1"

    @property
    def module(self) -> str:
        return self.home or f"aof/registry/{self.name}.py"

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def key_order(self) -> tuple[str, ...]:
        return ("schema", self.key, *(f.name for f in self.fields))


# --- field checks -------------------------------------------------------------------------


# Each check carries the JSON Schema fragment that says the same thing (``check.json``), so
# schemas/<kind>.schema.json is generated from these and cannot drift from the validator.
TEXT = {"type": "string", "pattern": r"\S"}
# `(?![\s\S])` rather than `$`: in Python's re (which jsonschema uses) `$` also matches
# before a final newline, so "ops\n" would pass; the lookahead means "nothing follows" in
# both ECMA-262 and Python.
END = r"(?![\s\S])"
SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}" + END}


def _json(fragment: dict[str, Any]) -> Callable[[Check], Check]:
    def tag(check: Check) -> Check:
        check.json = fragment  # type: ignore[attr-defined]
        return check

    return tag


@_json(TEXT)
def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be non-empty text"


@_json(SLUG)
def slug(value: Any) -> str | None:
    if isinstance(value, str) and SLUG_RE.match(value):
        return None
    return "must be a slug: lower-case letters, digits and '-', starting with a letter or digit"


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
            return None
        rng = (f" from {lo}" if lo is not None else "") + (f" to {hi}" if hi is not None else "")
        return f"must be a whole number{rng}"

    bounds = {"minimum": lo} if lo is not None else {}
    bounds.update({"maximum": hi} if hi is not None else {})
    check.json = {"type": "integer", **bounds}  # type: ignore[attr-defined]
    check.is_integer = True  # type: ignore[attr-defined]
    return check


@_json({"type": "boolean"})
def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    check.json = {"enum": list(choices)}  # type: ignore[attr-defined]
    return check


@_json({"type": "array", "items": TEXT})
def text_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return None
    return "must be a list of text"


@_json({"type": "array", "items": SLUG})
def slug_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and SLUG_RE.match(v) for v in value):
        return None
    return "must be a list of slugs"


@_json({"type": "string", "format": "date-time"})
def timestamp(value: Any) -> str | None:
    from ..model.task import _is_time

    return None if _is_time(value) else "must be an ISO 8601 time, e.g. 2026-11-21T09:30:00Z"


@_json({"type": "object"})
def mapping(value: Any) -> str | None:
    return None if isinstance(value, dict) else "must be a mapping"


@_json(
    {
        "type": "object",
        "properties": {"usd_month": {"type": "number", "minimum": 0}},
        "required": ["usd_month"],
    }
)
def budget(value: Any) -> str | None:
    usd = value.get("usd_month") if isinstance(value, dict) else None
    if isinstance(usd, int | float) and not isinstance(usd, bool) and usd >= 0:
        return None
    return "must be a mapping with usd_month: a number of US dollars >= 0, e.g. {usd_month: 200}"


def json_schema(noun: Noun) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``noun``'s frontmatter, generated from its fields."""
    props: dict[str, Any] = {"schema": {"const": noun.schema}, noun.key: {**SLUG}}
    for f in noun.fields:
        fragment = dict(getattr(f.check, "json", {}))
        if f.help:
            fragment["description"] = f.help
        if f.default is not None:
            fragment["default"] = f.default
        props[f.name] = fragment if f.required else {"anyOf": [fragment, {"type": "null"}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"aof {noun.name} frontmatter ({noun.schema})",
        "description": f"Frontmatter of {noun.dir}/<{noun.key}>.md. Unknown keys are allowed and "
        "kept; an optional field set to null means unset. Generated from "
        f"{noun.module} by scripts/gen_schemas.py.",
        "type": "object",
        "required": ["schema", noun.key, *(f.name for f in noun.fields if f.required)],
        "properties": props,
        "additionalProperties": True,
    }


# --- validation -----------------------------------------------------------------------------


def validate(noun: Noun, meta: dict[str, Any], where: str, line_of: Callable[[str], int]) -> None:
    """Raise ValidationError ``where:line: field: message (got value)`` for the first problem."""

    def bad(key: str, message: str, value: Any) -> ValidationError:
        return ValidationError(f"{where}:{line_of(key)}: {key}: {message} (got {value!r})")

    if meta.get("schema") != noun.schema:
        raise bad("schema", f"must be {noun.schema!r}", meta.get("schema"))
    problem = slug(meta.get(noun.key))
    if problem:
        raise bad(noun.key, problem, meta.get(noun.key))
    for f in noun.fields:
        value = meta.get(f.name)
        if value is None:
            if f.required:
                raise bad(f.name, f"is required{': ' + f.help if f.help else ''}", value)
            continue
        problem = f.check(value)
        if problem:
            raise bad(f.name, problem, value)
    if noun.extra is not None:
        try:
            noun.extra(meta)
        except ValidationError as exc:
            key = str(exc).split(":", 1)[0]
            raise ValidationError(f"{where}:{line_of(key)}: {exc}") from None


def references(noun: Noun, meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, kind, slug) for every reference ``meta`` makes (list fields give one each)."""
    out = []
    for f in noun.fields:
        value = meta.get(f.name)
        if f.ref is None or value is None:
            continue
        for target in value if isinstance(value, list) else [value]:
            out.append((f.name, f.ref, str(target)))
    return out


def ordered(noun: Noun, meta: dict[str, Any]) -> dict[str, Any]:
    """Known keys in the noun's order, then unknown (human) keys in their own order."""
    out = {k: meta[k] for k in noun.key_order if k in meta}
    out.update((k, v) for k, v in meta.items() if k not in out)
    return out
