"""What knowledge is: sources, documents and facts, their fields, scopes and kinds.

Each is a card under ``knowledge/``, described by a :class:`aof.registry.spec.Noun` so
validation, key order and the generated JSON Schemas come from the same code path as the
registry's. Kinds are ao-fleet's (plus ``link`` and ``learning``) and a fleet adds its own
under ``knowledge.kinds`` in aof.yaml; because that list is per fleet, the kind check is
:func:`check_kind` (the schema only says a kind is a lower-case word).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError
from ..registry.spec import (
    Field,
    Noun,
    integer,
    mapping,
    one_of,
    slug,
    text,
    text_list,
    timestamp,
)

SCOPES = ("company", "team", "project")
SYNC_STATES = ("pending", "ready", "stale", "failed")
KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")

# ao-fleet's kinds (crates/ao-fleet-knowledge), so its data and habits carry over; aof adds
# ``link`` (a source that is just a URL) and ``learning`` (a document promoted from a run).
BUILTIN_KINDS: dict[str, tuple[str, ...]] = {
    "source": (
        "ao_event",
        "git_commit",
        "github_issue",
        "github_pull_request",
        "manual_note",
        "incident",
        "schedule_change",
        "workflow_run",
        "link",
    ),
    "document": (
        "brief",
        "decision",
        "runbook",
        "research_note",
        "team_profile",
        "project_profile",
        "incident_report",
        "policy_note",
        "learning",
    ),
    "fact": (
        "policy",
        "decision",
        "risk",
        "incident",
        "workflow_outcome",
        "schedule_observation",
    ),
}


def kind(value: Any) -> str | None:
    if isinstance(value, str) and KIND_RE.match(value):
        return None
    return "must be a kind: a lower-case word (letters, digits, '_')"


kind.json = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}(?![\\s\\S])"}  # type: ignore[attr-defined]


def _scope_rule(meta: dict[str, Any]) -> None:
    scope, ref = meta.get("scope", "company"), meta.get("scope_ref")
    if scope == "company" and ref is not None:
        raise ValidationError(
            f"scope_ref: company-wide knowledge has no scope_ref (got {ref!r}); "
            "use scope team or project to tie it to one"
        )
    if scope in ("team", "project") and ref is None:
        raise ValidationError(f"scope_ref: scope {scope} needs the {scope}'s slug (got None)")


def _scope(value: Any) -> str | None:
    if value in SCOPES:
        return None
    hint = (
        " (ao-fleet's 'global' is 'company' here)"
        if value == "global"
        else " ('operational' knowledge is company-wide, tagged as you like)"
        if value == "operational"
        else ""
    )
    return f"must be one of {', '.join(SCOPES)}{hint}"


_scope.json = {"enum": list(SCOPES)}  # type: ignore[attr-defined]

HOME = "aof/knowledge/spec.py"


def _common(*head: Field) -> tuple[Field, ...]:
    return (
        *head,
        Field("kind", kind, required=True, help="what it is; see `aof knowledge kinds`"),
        Field("scope", _scope, default="company", help="company, team or project"),
        Field("scope_ref", slug, help="the team's or project's slug (scope team/project)"),
        Field("tags", text_list, help="labels; search matches them case-insensitively"),
    )


_STAMPS = (
    Field("created", timestamp),
    Field("created_by", text),
    Field("updated", timestamp),
)

SOURCE = Noun(
    name="knowledge-source",
    dir="knowledge/sources",
    fields=(
        *_common(Field("label", text, required=True, help="a short name for the artifact")),
        Field("uri", text, help="where the artifact lives (URL or path)"),
        Field(
            "sync_state", one_of(*SYNC_STATES), default="ready", help="pending|ready|stale|failed"
        ),
        Field("last_synced_at", timestamp),
        Field("metadata", mapping),
        *_STAMPS,
    ),
    extra=_scope_rule,
    home=HOME,
)

DOCUMENT = Noun(
    name="knowledge-document",
    dir="knowledge/documents",
    fields=(
        *_common(
            Field("title", text, required=True, help="the document's title"),
            Field("summary", text, help="one or two sentences; ranked above the body"),
        ),
        Field("source", slug, help="the knowledge source it came from (its slug)"),
        Field("uri", text, help="a link to the original"),
        Field("provenance", mapping, help="task, attempt, run and commit it was promoted from"),
        *_STAMPS,
    ),
    extra=_scope_rule,
    home=HOME,
)

FACT = Noun(
    name="knowledge-fact",
    dir="knowledge/facts",
    fields=(
        *_common(
            Field("statement", text, required=True, help="the assertion, one sentence"),
            Field("confidence", integer(0, 100), required=True, help="0 to 100"),
        ),
        Field("source", slug, help="the knowledge source it came from (its slug)"),
        Field("uri", text, help="a link to the evidence"),
        Field("observed_at", timestamp, help="when it was observed (default: now)"),
        *_STAMPS,
    ),
    extra=_scope_rule,
    key="id",
    home=HOME,
)

# The short names people type (``aof knowledge source ...``, ``--type fact``).
TYPES: dict[str, Noun] = {"source": SOURCE, "document": DOCUMENT, "fact": FACT}
TYPE_OF_DIR = {noun.dir: name for name, noun in TYPES.items()}


def kinds_of(config: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Built-in kinds plus the fleet's own (``knowledge.kinds.<type>`` in aof.yaml)."""
    extra = (config.get("knowledge") or {}).get("kinds") or {}
    return {
        t: (*BUILTIN_KINDS[t], *(k for k in extra.get(t) or () if k not in BUILTIN_KINDS[t]))
        for t in TYPES
    }


def check_kind(
    kinds: dict[str, tuple[str, ...]], type_: str, value: Any, where: str, line: int
) -> None:
    """ValidationError unless ``value`` is a known kind of ``type_``."""
    known = kinds[type_]
    if value in known:
        return
    raise ValidationError(
        f"{where}:{line}: kind: unknown {type_} kind {value!r} (kinds: {', '.join(known)}; "
        f"a fleet adds its own under knowledge.kinds.{type_} in aof.yaml)"
    )
