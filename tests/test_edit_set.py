"""`aof task edit --set KEY=VALUE`: YAML values, dotted keys, keys that are not task fields
refused with the closest one, everything validated before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aof import Fleet, ValidationError

from .conftest import Cli, git


def meta(run: Cli, tid: str) -> Any:
    return run.json("task", "show", tid)["meta"]


def own_keys(root: Path, rel: str, *keys: str) -> None:
    """A person adds keys of their own to the task's file in an editor (aof keeps them):
    ``name`` (a text value) or ``name: {}``."""
    path = root / rel
    lines = "".join(f"\n{k}" if ":" in k else f"\n{k}: x" for k in keys)
    path.write_text(path.read_text().replace("\n---\n", lines + "\n---\n", 1))


def snapshot(root: Path, rel: str) -> tuple[bytes, str, str]:
    """What a failed edit must leave alone: the file, HEAD and the audit trail."""
    audit = "".join(p.read_text() for p in sorted((root / "audit").rglob("*.jsonl")))
    return (root / rel).read_bytes(), git(root, "rev-parse", "HEAD"), audit


def test_set_reads_values_as_yaml(run: Cli, root: Path) -> None:
    created = run.json("task", "create", "Y")
    tid = created["id"]
    own_keys(root, created["path"], "flag", "owner", "ticket", "answer")
    run(
        "task", "edit", tid,
        "--set", "labels=[api, urgent]",
        "--set", "routing={role: reviewer, tags: [py]}",
        "--set", "max_attempts=5",
        "--set", "flag=true",
        "--set", "owner=alice",
        "--set", "ticket='42'",
        "--set", "answer=yes",
        "--set", "due=2026-12-01T17:00:00Z",
    )  # fmt: skip
    m = meta(run, tid)
    assert m["labels"] == ["api", "urgent"]
    assert m["routing"] == {"role": "reviewer", "tags": ["py"]}
    assert m["max_attempts"] == 5 and m["flag"] is True
    assert (m["owner"], m["ticket"], m["answer"]) == ("alice", "42", "yes")  # YAML 1.2: yes
    assert m["due"] == "2026-12-01T17:00:00Z"


def test_values_that_are_not_yaml_stay_text() -> None:
    from aof.files.cardfile import parse_value

    assert parse_value("Fix the login") == "Fix the login"
    assert parse_value("[unclosed") == "[unclosed"
    assert parse_value("@handle") == "@handle"
    assert parse_value("{usd: 5}") == {"usd": 5}


def test_a_dotted_key_sets_the_nested_field(run: Cli, root: Path) -> None:
    created = run.json("task", "create", "D")
    tid = created["id"]
    own_keys(root, created["path"], "notes: {}")
    run("task", "edit", tid, "--set", "budget.usd=5")
    assert meta(run, tid)["budget"] == {"usd": 5}
    run("task", "edit", tid, "--set", "budget.tokens=1000", "--set", "notes.owner.team=web")
    m = meta(run, tid)
    assert m["budget"] == {"usd": 5, "tokens": 1000}
    assert m["notes"] == {"owner": {"team": "web"}}
    run("task", "edit", tid, "--unset", "budget.usd", "--unset", "notes.owner.team")
    m = meta(run, tid)
    assert m["budget"] == {"tokens": 1000} and "notes" not in m
    r = run("task", "edit", tid, "--set", "title.x=1", code=6)
    assert "title is 'D', not a mapping" in r.stderr
    r = run("task", "edit", tid, "--set", "lease.holder=me", code=6)
    assert "lease.holder: is managed by aof" in r.stderr


def test_a_key_that_is_not_a_task_field_is_refused_with_the_closest_one(
    run: Cli, root: Path
) -> None:
    t = run.json("task", "create", "T")
    before = snapshot(root, t["path"])
    r = run("task", "edit", t["id"], "--set", "priorty=high", code=6)
    assert r.stderr == (
        f"Error: task {t['id']}: priorty: not a task field; did you mean `priority`?\n"
    )
    assert run("task", "edit", t["id"], "--set", "depends=[]", code=6).stderr.endswith(
        "did you mean `depends_on`?\n"
    )
    assert snapshot(root, t["path"]) == before
    r = run("task", "edit", t["id"], "--set", "sprint=12", code=6)
    assert r.stderr == (
        f"Error: task {t['id']}: sprint: not a task field; a field of your own is added in "
        "the file itself, where aof keeps it\n"
    )
    assert snapshot(root, t["path"]) == before
    own_keys(root, t["path"], "sprint")  # once the file has it, --set changes it
    run("task", "edit", t["id"], "--set", "sprint=12")
    assert meta(run, t["id"])["sprint"] == 12


@pytest.mark.parametrize(
    "pair, message",
    [
        ("budget.usd=lots", "budget.usd: must be a number >= 0 (got 'lots')"),
        ("labels=[a, b", "labels: must be a list of short labels"),
        ("routing.tags=py", "routing.tags: must be a list of text (got 'py')"),
        ("priority=urgent", "priority: must be one of critical, high, normal, low"),
    ],
)
def test_a_bad_value_is_refused_before_anything_is_written(
    run: Cli, root: Path, pair: str, message: str
) -> None:
    t = run.json("task", "create", "V")
    before = snapshot(root, t["path"])
    r = run("task", "edit", t["id"], "--set", "max_attempts=4", "--set", pair, code=6)
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert snapshot(root, t["path"]) == before


def test_the_library_takes_dotted_keys_too(fleet: Fleet) -> None:
    t = fleet.create_task("L")
    e = fleet.edit_task(t.id, set_fields={"budget.wall_s": 600, "sla.max_in_progress_s": 60})
    assert e.meta["budget"] == {"wall_s": 600} and e.meta["sla"] == {"max_in_progress_s": 60}
    with pytest.raises(ValidationError, match="did you mean `labels`"):
        fleet.edit_task(t.id, set_fields={"label": ["x"]})


def test_near_misses_are_typos_and_other_unknown_keys_are_yours() -> None:
    from aof.model.task import near_miss

    for typo, known in [("priorty", "priority"), ("label", "labels"), ("budjet", "budget")]:
        assert near_miss(typo) == known
    for own in ("owner", "sprint", "estimate", "customer", "priority"):
        assert near_miss(own) is None
