"""`aof lint` in words a person acts on: a task file gets the very message `task list` shows,
registry and knowledge cards their noun's messages, schema errors never jsonschema's text or a
regex; keys that look like a typo of a known one are warnings."""

from __future__ import annotations

from pathlib import Path

from aof import Fleet

from .conftest import Cli
from .test_friendly_errors import BROKEN


def write_broken(root: Path) -> None:
    for name, text in BROKEN.items():
        (root / "tasks" / "ready" / name).write_text(text)


def test_lint_prints_exactly_the_messages_task_list_shows(fleet: Fleet, run: Cli) -> None:
    fleet.create_task("fine", ready=True)
    write_broken(fleet.root)
    (fleet.root / "teams" / "Web.md").write_text(
        "---\nschema: aof/team/v1\nslug: Web Team\nname: W\nmission: m\nownership: o\n---\n"
    )
    rows = run.json("task", "list")
    reasons = sorted(r["reason"] for r in rows if r.get("invalid"))
    assert len(reasons) == len(BROKEN)
    findings = run.json("lint", code=1)["findings"]
    assert sorted(f for f in findings if f.startswith("tasks/")) == reasons
    text = "\n".join(findings)
    for raw in ("is not valid under any of the given schemas", "does not match '^", "(?!"):
        assert raw not in text, text
    assert (
        "teams/Web.md:3: slug: must be a slug: lower-case letters, digits and '-', starting "
        "with a letter or digit (got 'Web Team')"
    ) in findings
    assert reasons[0] == (
        "tasks/ready/t-bad101-enum.md:6: priority: must be one of critical, high, normal, low "
        "(got 'urgent')"
    )


def test_schema_errors_are_put_in_words(fleet: Fleet) -> None:
    from aof.ops.lint import schema_errors

    record = {"ts": "2026-11-21T09:00:00Z", "seq": 0, "actor": {"kind": "bot", "id": "x"},
              "action": "a", "entity": {"kind": "task", "id": "t"}, "extra": 1}  # fmt: skip
    assert sorted(schema_errors("audit", record)) == [
        ("actor.kind", "must be one of human, agent, scheduler, system (got 'bot')"),
        ("extra", "is not a field here"),
        ("seq", "must be a number >= 1 (got 0)"),
    ]
    config = {"git": {"commit": "daily"}, "scheduler": {"lease_ttl_s": "x"}}
    assert sorted(schema_errors("config", config)) == [
        ("git.commit", "must be one of each, batch, off (got 'daily')"),
        ("scheduler.lease_ttl_s", "must be a number (got 'x')"),
    ]


def test_lint_warns_on_a_near_miss_key_and_still_passes(run: Cli, root: Path) -> None:
    t = run.json("task", "create", "W")
    path = root / t["path"]
    path.write_text(path.read_text().replace("attempts: 0\n", "attempts: 0\npriorty: high\n"))
    result = run("lint")  # a warning, not a problem: exit 0
    line = path.read_text().splitlines().index("priorty: high") + 1
    warning = f"{t['path']}:{line}: priorty: unknown key; did you mean `priority`?"
    assert f"warning: {warning}\n" in result.stdout
    assert run.json("lint")["warnings"] == [warning]
    team = root / "teams" / "web.md"
    team.write_text(
        "---\nschema: aof/team/v1\nslug: web\nname: Web\nmission: Ship\nownership: us\n"
        "bussiness_priority: 3\n---\n"
    )
    assert run.json("lint")["warnings"] == [
        warning,
        "teams/web.md:7: bussiness_priority: unknown key; did you mean `business_priority`?",
    ]
    assert path.read_text().count("priorty: high") == 1  # kept, as every key of yours is
