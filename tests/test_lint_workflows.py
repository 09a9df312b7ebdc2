"""`aof lint` of workflows: each file read as aof reads it when a task completes (the parser's
own messages, on the line of the gate they name), review gates that no agent profile can
take, and every place that names a workflow with no file."""

from __future__ import annotations

from pathlib import Path

from aof import Fleet

from .conftest import Cli

GOOD = """\
schema: aof/workflow/v1
max_rejections: 2
gates:
  - name: tests
    run: make test
    timeout_s: 600
  - name: code-review
    review: {role: reviewer, capabilities: [python, security]}
  - name: design
    review: {agent: architect}
  - qa
"""


def write(root: Path, name: str, text: str) -> None:
    (root / "workflows" / name).write_text(text, encoding="utf-8")


def findings(run: Cli, *paths: str, code: int = 1) -> list[str]:
    return list(run.json("lint", *paths, code=code)["findings"])


def test_parser_errors_are_findings_on_the_line_of_their_gate(run: Cli, root: Path) -> None:
    write(
        root,
        "shell.yaml",
        "gates:\n  - name: tests\n    run: make\n  - name: lint\n    shell: ruff\n",
    )
    write(root, "both.yaml", "gates:\n  - name: x\n    run: make\n    review: {role: r}\n")
    write(
        root,
        "slow.yaml",
        "# comment\ngates:\n  - qa\n  - name: t\n    run: make\n    timeout_s: soon\n",
    )
    write(root, "cap.yaml", "gates: [qa]\nmax_rejections: 0\n")
    assert sorted(findings(run)) == [
        "workflows/both.yaml:2: gates[0] (x): a gate is a command (run) or a review, not both",
        "workflows/cap.yaml:2: max_rejections: must be a whole number >= 1 (got 0)",
        "workflows/shell.yaml:4: gates[1] (lint).shell: unknown key (gate kinds: run (a "
        "command), review, pr; keys: name, run, timeout_s, env, review, pr, description)",
        "workflows/slow.yaml:4: gates[1] (t).timeout_s: must be a number of seconds > 0 "
        "(got 'soon')",
    ]


def test_old_forms_stay_valid(run: Cli, root: Path) -> None:
    write(root, "names.yaml", "gates:\n  - code-review\n  - qa\n")
    write(root, "mapping.yaml", "max_rejections: 3\ngates:\n  - name: code-review\n  - qa\n")
    assert findings(run, code=0) == []


def test_a_review_gate_needs_an_agent_profile_that_can_take_it(
    fleet: Fleet, run: Cli, root: Path
) -> None:
    write(root, "full.yaml", GOOD)
    assert findings(run) == [
        "workflows/full.yaml:7: gates[1] (code-review).review.role: no agent profile holds "
        "role reviewer (with capabilities python, security)",
        "workflows/full.yaml:9: gates[2] (design).review.agent: no agent profile 'architect'",
    ]
    fleet.registry.create("agent", "rev", {"roles": ["reviewer"], "capabilities": ["python"]})
    fleet.registry.create("agent", "architect", {"roles": ["coder"]})
    write(
        root,
        "full.yaml",
        GOOD.replace(
            "review: {agent: architect}", "review: {agent: architect, capabilities: [design]}"
        ),
    )
    assert findings(run) == [
        "workflows/full.yaml:7: gates[1] (code-review).review.role: no agent profile holds "
        "role reviewer (with capabilities python, security)",
        "workflows/full.yaml:9: gates[2] (design).review.agent: agent profile architect lacks "
        "capabilities (with capabilities design)",
    ]
    fleet.registry.update("agent", "rev", {"capabilities": ["python", "security", "go"]})
    fleet.registry.update("agent", "architect", {"capabilities": ["design"]})
    assert findings(run, code=0) == []
    # a role alone, with no capabilities asked
    write(root, "plain.yaml", "gates:\n  - name: review\n    review: {role: auditor}\n")
    assert findings(run) == [
        "workflows/plain.yaml:2: gates[0] (review).review.role: no agent profile holds role auditor"
    ]


def test_every_name_of_a_workflow_needs_its_file(fleet: Fleet, run: Cli, root: Path) -> None:
    write(root, "reviewed.yaml", "gates: [qa]\n")
    fleet.registry.create("team", "web", {"name": "Web", "mission": "m", "ownership": "c",
                                          "workflow": "team-flow"})  # fmt: skip
    fleet.registry.create("project", "site", {"team": "web", "root_path": "/src/site",
                                              "workflow": "reviewed"})  # fmt: skip
    fleet.registry.create("project", "api", {"team": "web", "root_path": "/src/api",
                                             "workflow": "api-flow"})  # fmt: skip
    good = fleet.create_task("Uses a real one", fields={"workflow": "reviewed"})
    bad = fleet.create_task("Names a ghost", fields={"workflow": "reviewed"})
    text = bad.path.read_text()  # a hand edit: aof refuses to write a name without its file
    bad.path.write_text(text.replace("workflow: reviewed", "workflow: ghost"))
    config = root / "aof.yaml"
    config.write_text(
        config.read_text().replace("\ndefaults:\n", "\ndefaults:\n  workflow: x-flow\n")
    )
    rel = fleet.tasks.rel(bad.path)
    line = bad.path.read_text().splitlines().index("workflow: ghost") + 1
    defaults = config.read_text().splitlines().index("  workflow: x-flow") + 1
    assert findings(run) == [
        f"aof.yaml:{defaults}: defaults.workflow: no file workflows/x-flow.yaml",
        f"{rel}:{line}: workflow: no file workflows/ghost.yaml",
        "projects/api.md:8: workflow: no file workflows/api-flow.yaml",
        "teams/web.md:8: workflow: no file workflows/team-flow.yaml",
    ]
    assert good.id != bad.id
    # with paths (the pre-commit hook), only those files' findings
    assert findings(run, str(root / "teams" / "web.md")) == [
        "teams/web.md:8: workflow: no file workflows/team-flow.yaml"
    ]
    assert findings(run, str(root / "projects" / "site.md"), code=0) == []


def test_typos_of_workflow_keys_and_yml_files_are_warnings(run: Cli, root: Path) -> None:
    write(root, "typo.yaml", "max_rejection: 1\ngates: [qa]\n")
    write(root, "old.yml", "gates: [qa]\n")
    out = run.json("lint", code=0)
    assert out["findings"] == []
    assert out["warnings"] == [
        "workflows/old.yml:1: (file name): aof reads workflows/<name>.yaml only; rename it to "
        "old.yaml",
        "workflows/typo.yaml:1: max_rejection: unknown key; did you mean `max_rejections`?",
    ]
