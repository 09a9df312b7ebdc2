"""Each registry noun's validator and its generated JSON Schema accept the same fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aof import ValidationError
from aof.ops.lint import schema_errors
from aof.registry import NOUNS
from aof.registry.spec import validate

ANY = (
    st.none()
    | st.booleans()
    | st.integers(-2, 120)
    | st.text(max_size=4)
    | st.sampled_from(["ok", "a-b", "Bad Slug", " ", "", "UTC", "always_on", "nightly", "healthy"])
    | st.lists(st.sampled_from(["a", "b-c", "Bad", " "]), max_size=3)
    | st.dictionaries(st.sampled_from(["x"]), st.integers(), max_size=1)
)

BASE = {
    "team": {"name": "T", "mission": "m", "ownership": "o"},
    "project": {"team": "t", "root_path": "/x"},
    "host": {"name": "H", "address": "a", "platform": "linux"},
    "schedule": {"team": "t", "timezone": "UTC", "policy": "always_on"},
    "agent": {},
}


@settings(max_examples=800, deadline=None)
@given(kind=st.sampled_from(sorted(NOUNS)), data=st.data())
def test_noun_validator_and_schema_agree(kind: str, data: Any) -> None:
    noun = NOUNS[kind]._replace(extra=None)  # cross-field rules are beyond the schema
    names = [f.name for f in noun.fields if f.name not in ("windows", "override", "timezone")]
    changes = data.draw(st.dictionaries(st.sampled_from(names), ANY, max_size=3))
    meta = {"schema": noun.schema, "slug": "s", **BASE[kind], **changes}
    try:
        validate(noun, meta, "x", lambda k: 1)
        ours = True
    except ValidationError:
        ours = False
    theirs = not schema_errors(kind, meta)
    assert ours == theirs, (kind, meta, schema_errors(kind, meta))


def test_a_trailing_newline_never_passes_a_pattern() -> None:
    """Python's `$` matches before a final newline; the schemas must not inherit that."""
    from aof.model.task import validate as validate_task

    task = {
        "schema": "aof/task/v1",
        "id": "t-abc123",
        "title": "x",
        "created": "2026-11-21T09:00:00Z",
        "team": "ops\n",
    }
    assert schema_errors("task", task)
    try:
        validate_task(task)
        raise AssertionError("the validator accepted a slug with a newline")
    except ValidationError:
        pass
    team = {"schema": "aof/team/v1", "slug": "ops\n", **BASE["team"]}
    assert schema_errors("team", team)
