"""The write path's hand-written validator and schemas/task.schema.json accept the same things.

The validator runs on every write (fast, precise messages); the schema serves editors and
`aof lint`. Hypothesis mutates a valid task's fields with plausible good and bad values and
checks both say yes, or both say no.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aof import ValidationError
from aof.model.task import validate
from aof.ops.lint import schema_errors

BASE: dict[str, Any] = {
    "schema": "aof/task/v1",
    "id": "t-abc123",
    "title": "A task",
    "created": "2026-11-21T09:00:00Z",
}

ANY = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=5)
TIMES = st.sampled_from(
    [
        "2026-11-21T09:00:00Z",
        "2026-11-21 09:00",
        "2026-11-21T09:00:00+02:00",
        "2026-11-21",
        "yesterday",
        "2026-11-21T09:00:00.5Z",
    ]
)
IDS = st.sampled_from(["t-abc123", "t-abcd", "t-ab", "t-ABC123", "x-abc123", "t-ilou12"])
SLUGS = st.sampled_from(["core", "a-b", "A", "-x", "x_y", "a" * 63, "a" * 64])
LEASES = st.fixed_dictionaries(
    {},
    optional={
        "holder": st.sampled_from(["a", ""]) | ANY,
        "token": st.sampled_from(["1-x", ""]),
        "acquired": TIMES,
        "expires": TIMES,
    },
)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "schema": st.sampled_from(["aof/task/v1", "aof/task/v2"]) | ANY,
    "id": IDS | ANY,
    "title": st.sampled_from(["ok", "", "  ", "two\nlines", "x" * 200, "x" * 201]) | ANY,
    "priority": st.sampled_from(["critical", "high", "normal", "low", "urgent"]) | ANY,
    "team": SLUGS | ANY,
    "project": SLUGS | ANY,
    "workflow": SLUGS | ANY,
    "depends_on": st.lists(IDS, max_size=3) | ANY,
    "parent": IDS | ANY,
    "created": TIMES | ANY,
    "updated": TIMES | ANY,
    "due": TIMES | ANY,
    "created_by": st.text(max_size=5) | ANY,
    "coder": ANY,
    "attempts": st.integers(-2, 5) | ANY,
    "fence": st.integers(-2, 5) | ANY,
    "max_attempts": st.integers(-1, 5) | ANY,
    "labels": st.lists(
        st.sampled_from(["ok", "a b", "a,b", " lead", "x" * 64, "x" * 65]), max_size=3
    )
    | ANY,
    "branch": st.sampled_from(["fix-1", "a/b", "-x", "a..b", "a//b", "x/", "x.", "a b", "x" * 101])
    | ANY,
    "batch": ANY,
    "spent": st.dictionaries(
        st.sampled_from(["usd", "tokens", "wall_s", "eur"]),
        st.integers(-1, 5) | st.floats(0, 5) | st.booleans(),
        max_size=3,
    )
    | ANY,
    "budget": st.dictionaries(
        st.sampled_from(["usd", "tokens", "wall_s", "eur"]),
        st.integers(-1, 5) | st.floats(0, 5) | st.booleans(),
        max_size=3,
    )
    | ANY,
    "lease": LEASES | ANY,
    "routing": st.fixed_dictionaries(
        {}, optional={"role": ANY, "agent": ANY, "tags": st.lists(st.text(max_size=3)) | ANY}
    )
    | ANY,
    "sla": st.dictionaries(st.text(max_size=3), ANY, max_size=2) | ANY,
    "issue": st.fixed_dictionaries(
        {},
        optional={
            "forge": st.sampled_from(["github", "gitlab"]) | ANY,
            "repo": st.sampled_from(
                ["o/r", "acme/site.io", "-o/r", "o/..", "o/.", "o/r/x", "o", "a" * 40 + "/r"]
            )
            | ANY,
            "number": st.integers(-1, 3) | st.just(2.0) | ANY,
            "url": st.sampled_from(["https://github.com/o/r/issues/1", "ftp://x", "http://h"])
            | ANY,
        },
    )
    | ANY,
    "custom_key": ANY,
}


@settings(max_examples=1500, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(FIELDS)), st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
    )
)
def test_validator_and_schema_agree(changes: dict[str, Any]) -> None:
    meta = {**BASE, **changes}
    try:
        validate(meta)
        ours = True
    except ValidationError:
        ours = False
    theirs = not schema_errors("task", meta)
    assert ours == theirs, (meta, schema_errors("task", meta))
