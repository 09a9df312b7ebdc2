"""Errors a person can act on: a YAML error names the line to fix, and a broken task file is a
row of `task list` and `board`, not a warning lost on stderr."""

from __future__ import annotations

import json

import pytest

from aof import Fleet
from aof.errors import ValidationError

from .conftest import Cli

FRONT = "---\nschema: aof/task/v1\nid: {id}\ntitle: {title}\ncreated: '2026-11-21T09:00:00Z'\n"
BROKEN = {
    "t-bad101-enum.md": FRONT.format(id="t-bad101", title="a") + "priority: urgent\n---\n",
    "t-bad102-slug.md": FRONT.format(id="t-bad102", title="b") + "team: Web Team\n---\n",
    "t-bad103-deps.md": FRONT.format(id="t-bad103", title="c") + "depends_on: t-x\n---\n",
    "t-bad104-time.md": FRONT.format(id="t-bad104", title="d") + "due: tomorrow\n---\n",
    "t-bad105-id.md": FRONT.format(id="t-abcd99", title="e") + "---\n",
    "t-bad106-type.md": FRONT.format(id="t-bad106", title="f") + "budget: {usd: -1}\n---\n",
    "t-bad107-yaml.md": "---\nschema: aof/task/v1\ntitle: 'unclosed\nid: t-bad107\n---\n",
}


@pytest.mark.parametrize(
    "front, line, message",
    [
        # The quote on line 4 runs on to the next quote, two lines later.
        ("schema: aof/task/v1\nid: t-q1\ntitle: 'Two\npriority: normal\n"
         "created: '2026-01-01T00:00:00Z'\n", 4, "a quoted value starts here and is not closed"),
        # ... or to the end of the frontmatter.
        ("schema: aof/task/v1\ntitle: \"Two\npriority: normal\n", 3,
         "a quoted value starts here and its closing quote is missing"),
        ("schema: aof/task/v1\nlabels: [a, b\npriority: normal\n", 3,
         "a [ ... ] list starts here and is not closed"),
        ("schema: aof/task/v1\npriority: normal\n  title: x\n", 4, "mapping values"),
    ],
)  # fmt: skip
def test_a_yaml_error_names_the_line_to_fix(front: str, line: int, message: str) -> None:
    from aof.files import cardfile

    with pytest.raises(ValidationError) as err:
        cardfile.parse("---\n" + front + "---\nbody\n", "t.md")
    assert str(err.value).startswith(f"t.md:{line}: invalid YAML: {message}"), err.value


def test_an_unclosed_quote_in_a_task_file_is_reported_at_its_line(fleet: Fleet, run: Cli) -> None:
    path = fleet.root / "tasks" / "ready" / "t-bad107-yaml.md"
    path.write_text(BROKEN["t-bad107-yaml.md"])
    (row,) = run.json("task", "list")
    assert row["reason"].startswith("tasks/ready/t-bad107-yaml.md:3: invalid YAML: a quoted")
    assert path.read_text().splitlines()[2] == "title: 'unclosed"  # line 3 is the quote's


def test_an_invalid_file_is_a_row_of_task_list_and_board(fleet: Fleet, run: Cli) -> None:
    good = fleet.create_task("good one", ready=True, labels=["x"])
    bad = fleet.root / "tasks" / "ready" / "t-bad101-enum.md"
    bad.write_text(BROKEN["t-bad101-enum.md"])
    reason = (
        "tasks/ready/t-bad101-enum.md:6: priority: must be one of critical, high, normal, low "
        "(got 'urgent')"
    )
    listed = run("task", "list")
    assert listed.stderr == ""
    assert listed.stdout.splitlines() == [
        f"{good.id:<10} ready       normal   good one  #x",
        f"t-bad101   ready       INVALID  {reason}",
    ]
    rows = run.json("task", "list")
    assert rows[1] | {} == {
        **{k: rows[1][k] for k in rows[0]},
        "id": "t-bad101",
        "state": "ready",
        "path": "tasks/ready/t-bad101-enum.md",
        "invalid": True,
        "reason": reason,
    }
    assert set(rows[0]) | {"invalid", "reason"} == set(rows[1])
    assert "invalid" not in rows[0]
    # A filter on fields leaves the broken file out of the rows, and says so on stderr.
    filtered = run("task", "list", "--label", "x", "--json")
    assert [r["id"] for r in json.loads(filtered.stdout)] == [good.id]
    assert filtered.stderr == f"warning: {reason}\n"
    board = run.json("board")
    assert board["counts"]["ready"] == 2
    assert [r.get("invalid", False) for r in board["columns"]["ready"]] == [False, True]
    text = run("board")
    assert f"  t-bad101   INVALID  {reason}" in text.stdout.splitlines() and text.stderr == ""
    # The scheduler's view is unchanged: a broken file is never a task to plan.
    assert [r["id"] for r in fleet.list_tasks()] == [good.id]
