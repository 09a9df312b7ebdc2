"""Bad input meets a clear error naming file and field; other tasks still list; nothing deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aof import Fleet, NotFound, ValidationError

from .conftest import Cli

GOOD_FRONT = "---\nschema: aof/task/v1\nid: {id}\ntitle: {title}\ncreated: '2026-11-21T09:00:00Z'\n"


def put(root: Path, state: str, name: str, content: bytes | str) -> Path:
    path = root / "tasks" / state / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


BAD_FILES = {
    "malformed yaml": (
        "t-bad001-x.md",
        "---\ntitle: [unclosed\n---\n",
        "t-bad001-x.md:2: invalid YAML: a [ ... ] list starts here and is not closed",
    ),
    "duplicate keys": (
        "t-bad002-x.md",
        GOOD_FRONT.format(id="t-bad002", title="a") + "title: b\n---\n",
        "t-bad002-x.md:6: invalid YAML",
    ),
    "wrong type": (
        "t-bad003-x.md",
        GOOD_FRONT.format(id="t-bad003", title="a") + "priority: 5\n---\n",
        "t-bad003-x.md:6: priority: must be one of",
    ),
    "wrong list": (
        "t-bad004-x.md",
        GOOD_FRONT.format(id="t-bad004", title="a") + "depends_on: t-x\n---\n",
        "t-bad004-x.md:6: depends_on: must be a list",
    ),
    "empty file": ("t-bad005-x.md", "", "t-bad005-x.md:1: no YAML frontmatter"),
    "binary": ("t-bad006-x.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "t-bad006-x.md:1: not"),
    "id mismatch": (
        "t-bad007-x.md",
        GOOD_FRONT.format(id="t-abcd99", title="a") + "---\n",
        "t-bad007-x.md:3: id: 't-abcd99' does not match",
    ),
    "not a task name": ("notes.md", "hello\n", "notes.md:1: (file name): not a task file name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_reported_with_file_line_field_and_others_still_list(
    fleet: Fleet, run: Cli, case: str
) -> None:
    good = fleet.create_task("good one", ready=True)
    name, content, message = BAD_FILES[case]
    bad = put(fleet.root, "ready", name, content)
    rows = run.json("task", "list")
    assert [r["id"] for r in rows if not r.get("invalid")] == [good.id]
    (broken,) = [r for r in rows if r.get("invalid")]  # listed where it is, with its reason
    assert message in broken["reason"] and broken["state"] == "ready"
    assert broken["path"] == f"tasks/ready/{name}"
    assert [r["id"] for r in fleet.list_tasks()] == [good.id]  # never a task to plan
    lint = run("lint", code=1)
    assert any(message.split(":", 1)[0] in ln for ln in lint.stdout.splitlines()), lint.stdout
    run("doctor", "--fix", code=1)  # reported, not "fixed": a person must look at it
    assert bad.exists()  # nothing deleted
    assert run("task", "show", good.id).exit_code == 0


def test_a_50_mb_file_is_refused_without_reading_it_all(fleet: Fleet, run: Cli) -> None:
    good = fleet.create_task("good", ready=True)
    big = fleet.root / "tasks" / "ready" / "t-hhge01-big.md"
    with open(big, "wb") as fh:
        fh.write(b"---\nschema: aof/task/v1\n---\n")
        fh.truncate(50 * 1024 * 1024)
    rows = run.json("task", "list")
    assert "more than the 1048576 a card may be" in rows[-1]["reason"]
    assert good.id == rows[0]["id"]
    run("task", "show", "t-hhge01", code=6)
    assert big.stat().st_size == 50 * 1024 * 1024


def test_unknown_directories_are_reported(fleet: Fleet, run: Cli) -> None:
    (fleet.root / "tasks" / "doing").mkdir()
    (fleet.root / "tasks" / "doing" / "t-abcd12-x.md").write_text("---\n---\n")
    out = run("lint", code=1).stdout
    assert "tasks/doing:1: (path): not a state directory" in out
    doc = run("doctor", "--json", code=1)
    assert "unknown directory in tasks/" in doc.stdout
    assert (fleet.root / "tasks" / "doing" / "t-abcd12-x.md").exists()


@pytest.mark.parametrize(
    "ref", ["../../etc/passwd", "t-../x", "/etc/passwd", "t-abc/def", "t-ab..c"]
)
def test_ids_with_dots_or_slashes_are_refused(run: Cli, ref: str) -> None:
    result = run("task", "show", ref, code=6)
    assert "no '/', '..'" in result.stderr


def test_symlinks_out_of_the_root_are_not_followed(fleet: Fleet, run: Cli, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(GOOD_FRONT.format(id="t-sym001", title="secret") + "---\nsecret body\n")
    link = fleet.root / "tasks" / "ready" / "t-sym001-x.md"
    os.symlink(outside, link)
    result = run("task", "list", "--json")
    assert "secret" not in result.stdout
    assert "is a symlink" in json.loads(result.stdout)[0]["reason"]
    run("task", "show", "t-sym001", code=3)
    with pytest.raises(NotFound):  # a link is not a task: nothing to claim, nothing moves
        fleet.claim("t-sym001", "a")
    assert outside.read_text().endswith("secret body\n")
    assert link.is_symlink()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["task", "create", "  "], 6, "title: is required"),
        (["task", "create", "x", "--team", "Bad Team"], 6, "team: must be a slug"),
        (["task", "create", "x", "--depends-on", "t-n0there"], 3, "no task with id 't-n0there'"),
        (["task", "create", "x", "--label", "a,b"], 6, "labels: must be a list of short labels"),
        (["task", "create", "x\ny"], 6, "title: must be one line"),
        (["task", "create", "x", "--priority", "urgent"], 2, "Invalid value for '--priority'"),
        (["task", "edit", "t-zzzz", "--title", "y"], 3, "no task"),
        (["--actor", "robot", "task", "create", "x"], 0, ""),
        (["--actor", "martian:x", "task", "create", "x"], 6, "actor 'martian:x'"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_write_nothing(
    fleet: Fleet, run: Cli, args: list[str], code: int, message: str
) -> None:
    before = sorted(p.name for p in fleet.root.glob("tasks/*/*.md"))
    result = run(*args, code=code)
    if code:
        assert message in result.stderr
        assert result.stderr.count("\n") <= 4
        assert sorted(p.name for p in fleet.root.glob("tasks/*/*.md")) == before


def test_bad_aof_yaml_is_a_config_error_naming_the_field(fleet: Fleet, run: Cli) -> None:
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text().replace("timezone: UTC", "timezone: Mars/Olympus"))
    result = run("task", "list", code=7)
    assert "timezone: unknown IANA timezone 'Mars/Olympus'" in result.stderr
    cfg.write_text("scheduler: [\n")
    assert "aof.yaml:2: invalid YAML" in run("task", "list", code=7).stderr


def test_no_root_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from aof.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["task", "list"])
    assert result.exit_code == 7
    assert "no fleet root found" in result.stderr


def test_init_refuses_to_clobber(fleet: Fleet, tmp_path: Path) -> None:
    from aof.errors import RootExists

    with pytest.raises(RootExists):
        Fleet.init(fleet.root)
    other = tmp_path / "half"
    other.mkdir()
    (other / "README.md").write_text("mine")
    with pytest.raises(RootExists, match=r"would overwrite README\.md"):
        Fleet.init(other)
    assert (other / "README.md").read_text() == "mine"
    assert not (other / "aof.yaml").exists()


def test_hand_edited_task_keeps_everything_after_aof_edits(fleet: Fleet) -> None:
    t = fleet.create_task("hand edited", ready=True)
    text = t.path.read_text()
    front, body = text.split("---\n")[1], text.split("---\n", 2)[2]
    edited = (
        "---\n# reviewed by alice\n"
        + front.replace("priority: normal\n", "priority: 'normal'  # keep\n")
        + 'customer: "ACME Corp"   # custom key\nnotes:\n- one\n- two\n---\n'
        + body
    )
    t.path.write_text(edited)
    tok = fleet.claim(t.id, "a").lease["token"]  # type: ignore[index]
    fleet.progress(t.id, note="halfway", token=tok)
    done = fleet.complete(t.id, token=tok, summary="ok")
    out = done.path.read_text()
    for kept in (
        "# reviewed by alice",
        "priority: 'normal'  # keep",
        'customer: "ACME Corp"   # custom key',
        "notes:\n- one\n- two\n",
    ):
        assert kept in out
    assert done.meta["customer"] == "ACME Corp"
    with pytest.raises(ValidationError):
        fleet.edit_task(t.id, set_fields={"id": "t-other"})
