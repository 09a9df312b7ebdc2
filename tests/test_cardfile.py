"""Cards: the canonical YAML fast path agrees with ruamel, and human formatting survives edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from aof.errors import ConcurrentModification, ValidationError
from aof.files import cardfile, yamlfast

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | text
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(scalars | st.dictionaries(keys, inner, max_size=3), max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=8)


def ruamel_safe(text_: str) -> Any:
    return YAML(typ="safe", pure=True).load(text_)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_canonical_dump_is_read_back_identically_by_ruamel_and_by_the_fast_parser(
    doc: dict[str, Any],
) -> None:
    out = yamlfast.dump(doc)
    assert yamlfast.load(out) == doc
    assert (ruamel_safe(out) or {}) == doc


@settings(max_examples=200, deadline=None)
@given(documents, st.text(max_size=200))
def test_card_round_trip_is_byte_identical(doc: dict[str, Any], body: str) -> None:
    body = body.replace("\r", "").replace("\x00", "")  # NUL marks a binary file: refused
    card_text = "---\n" + yamlfast.dump(doc) + "---\n" + body
    card = cardfile.parse(card_text)
    assert card.canonical
    assert card.meta == doc
    assert card.body == body
    assert cardfile.render(card, dict(card.meta)) == card_text


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        "No",
        "on",
        "null",
        "~",
        "true",
        "2026-11-21",
        "2026-11-21T10:00:00Z",
        "1.5",
        "0x10",
        "1:30",
        "-",
        "- x",
        "a: b",
        "a #b",
        "#x",
        "'q'",
        '"q"',
        "@x",
        "`x`",
        "x:",
        " lead",
        "trail ",
        "tab\there",
        "line\nbreak",
        "\x7f",
        "\u2028",
        "é",
        "[a]",
        "{a}",
        "a,b",
        "*ref",
        "&anchor",
        "!tag",
        "%dir",
        "|",
        ">",
        "?",
        "",
        "0",
        "00",
        "1e5",
        ".inf",
        ".nan",
        "\ufeffbom",
    ],
)
def test_ambiguous_strings_stay_strings(value: str) -> None:
    out = yamlfast.dump({"k": value})
    assert yamlfast.load(out) == {"k": value}
    assert ruamel_safe(out) == {"k": value}


HAND_EDITED = """\
---
# A task written by a person, with comments and odd quoting.
schema: aof/task/v1
id: t-abcd12
title: "Fix the 'login' bug"   # quoted on purpose
priority: high
owner_note: keep me      # a custom key
labels:
- auth
- 'urgent'
created: 2026-11-20T08:00:00Z
---
Body stays exactly as written.
"""


def test_hand_edited_card_keeps_comments_quoting_order_and_custom_keys() -> None:
    card = cardfile.parse(HAND_EDITED)
    assert not card.canonical
    assert card.meta["created"] == "2026-11-20T08:00:00Z"  # an unquoted YAML timestamp
    assert cardfile.render(card, dict(card.meta)) == HAND_EDITED  # no-op save: identical
    meta = dict(card.meta)
    meta["priority"] = "critical"
    meta["updated"] = "2026-11-21T09:00:00Z"
    out = cardfile.render(card, meta)
    assert "# A task written by a person" in out
    assert "title: \"Fix the 'login' bug\"   # quoted on purpose" in out
    assert "owner_note: keep me      # a custom key" in out
    assert "priority: critical\n" in out
    assert "- 'urgent'" in out and "\n- auth\n" in out  # column-0 list style kept
    assert out.endswith("---\nBody stays exactly as written.\n")
    changed = [ln for ln in out.splitlines() if ln not in HAND_EDITED.splitlines()]
    assert changed == ["priority: critical", "updated: '2026-11-21T09:00:00Z'"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ("no frontmatter\n", "no YAML frontmatter"),
        ("---\ntitle: [unclosed\n---\n", "invalid YAML"),
        ("---\na: 1\na: 2\n---\n", "invalid YAML"),
        ("---\n- a list\n---\n", "must be a mapping"),
        ("---\nx: 1\x00\n---\n", "not a text file"),
    ],
)
def test_bad_cards_raise_validation_errors_with_location(bad: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        cardfile.parse(bad, "tasks/ready/t-x.md")
    assert str(info.value).startswith("tasks/ready/t-x.md:")


def test_duplicate_key_error_names_the_line() -> None:
    with pytest.raises(ValidationError, match=r"t\.md:4: invalid YAML"):
        cardfile.parse("---\na: 1\nb: 2\na: 3\n---\n", "t.md")


def test_crlf_card_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_bytes(b"---\r\nschema: x\r\nid: t-abcd\r\n---\r\nbody\r\n")
    card = cardfile.read(path)
    assert card.meta == {"schema": "x", "id": "t-abcd"}
    assert not card.canonical


def test_write_new_never_clobbers(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    cardfile.write_new(path, "one")
    with pytest.raises(FileExistsError):
        cardfile.write_new(path, "two")
    assert path.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]  # no temp left behind


def test_replace_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\na: 1\n---\n")
    card = cardfile.read(path)
    path.write_text("---\na: 2\n---\nedited by a person meanwhile\n")
    with pytest.raises(ConcurrentModification, match="changed on disk"):
        cardfile.replace(path, "---\na: 3\n---\n", expect=card.stamp)
    assert "edited by a person" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_replace_refuses_a_file_that_moved_away(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\na: 1\n---\n")
    card = cardfile.read(path)
    path.rename(tmp_path / "b.md")
    with pytest.raises(ConcurrentModification, match="moved or deleted"):
        cardfile.replace(path, "---\na: 3\n---\n", expect=card.stamp)
    assert not path.exists()  # not resurrected


def test_oversized_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"---\na: 1\n---\n" + b"x" * (cardfile.MAX_CARD_BYTES + 1))
    with pytest.raises(ValidationError, match="more than"):
        cardfile.read(big)
    latin = tmp_path / "latin.md"
    latin.write_bytes(b"---\na: caf\xe9\n---\n")
    with pytest.raises(ValidationError, match=r"latin\.md:2: not UTF-8"):
        cardfile.read(latin)
