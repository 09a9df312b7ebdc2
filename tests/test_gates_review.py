"""Review gates: the reviewer's prompt (the task, its criteria, the diff against the base
branch, the gates' output), its run in a folder of its own, and a reviewer run that ends
without a verdict gives the review back."""

from __future__ import annotations

from pathlib import Path

import pytest

from aof import Fleet
from aof.errors import InvalidTransition
from aof.model.task import State
from aof.runner.gates import run_gate
from aof.runner.review import prompt

from .conftest import Cli
from .test_gates_command import commit_work, gate_of, project

WORKFLOW = """gates:
  - name: tests
    run: echo THE-TESTS-RAN
  - name: code-review
    review: {role: reviewer, capabilities: [python]}
"""


@pytest.fixture(autouse=True)
def _root_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FLEET_ROOT", str(root))


def at_review(fleet: Fleet, run: Cli, tmp_path: Path) -> tuple[str, Path]:
    repo = project(run, tmp_path, WORKFLOW)
    run("agent", "create", "--slug", "rev-1", "--role", "reviewer", "--capability", "python")
    body = "## Objective\n\nAdd it.\n\n## Acceptance criteria\n\n- the widget counts to 3\n"
    t = fleet.create_task("Widget", project="app", body=body, ready=True,
                          fields={"workflow": "w"})  # fmt: skip
    tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    commit_work(repo, t.id, "def widget(): return 3")
    fleet.complete(t.id, token=tok, summary="done")
    gate, gtok = gate_of(fleet, t.id)
    task = run_gate(fleet, t.id, gtok, gate)
    assert task.state == State.REVIEW and task.meta["gate"]["current"] == "code-review"
    return t.id, repo


def test_the_reviewer_is_shown_the_task_its_criteria_the_diff_and_the_gates(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    tid, repo = at_review(fleet, run, tmp_path)
    project_row = {"slug": "app", "root_path": str(repo), "default_branch": "main"}
    text = prompt(fleet, fleet.get_task(tid), project_row)
    assert f"reviewing the work on task {tid}: Widget" in text
    assert "Another agent (coder-1)" in text
    assert "the widget counts to 3" in text
    assert "+def widget(): return 3" in text and f"git diff main...aof/{tid}" in text
    assert "### tests: passed" in text and "THE-TESTS-RAN" in text
    assert f"aof gate approve {tid}" in text and f"aof gate reject {tid}" in text


def test_the_worker_never_reviews_its_own_work_and_a_review_without_verdict_goes_back(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    tid, _repo = at_review(fleet, run, tmp_path)
    with pytest.raises(InvalidTransition, match="did the work and may not review it"):
        fleet.claim_gate(tid, "coder-1", "code-review")
    for n in range(1, 4):
        held = fleet.claim_gate(tid, "rev-1", "code-review")
        token = str((held.lease or {})["token"])
        task, outcome = fleet.settle_run(tid, token, outcome="exited", reason="exit 0")
        assert outcome == "no-verdict"
        if n < 3:
            assert task.state == State.REVIEW and task.lease is None
            assert task.meta["gate"]["failures"] == n
    assert task.state == State.BLOCKED
    assert "3 runs ended without a result" in task.meta["blocked"]["reason"]


def test_only_aof_takes_a_command_gate_and_nobody_takes_a_persons(
    fleet: Fleet, run: Cli, tmp_path: Path
) -> None:
    repo = project(run, tmp_path, "gates:\n  - name: tests\n    run: 'true'\n  - qa\n")
    t = fleet.create_task("Kinds", project="app", ready=True, fields={"workflow": "w"})
    tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
    commit_work(repo, t.id, "v1")
    fleet.complete(t.id, token=tok, summary="done")
    with pytest.raises(InvalidTransition, match="command gate: aof runs it"):
        fleet.claim_gate(t.id, "rev-1", "tests")
    gate, gtok = gate_of(fleet, t.id)
    assert run_gate(fleet, t.id, gtok, gate).meta["gate"]["current"] == "qa"
    with pytest.raises(InvalidTransition, match="human gate: a person decides it"):
        fleet.claim_gate(t.id, "rev-1", "qa")
    assert fleet.approve(t.id).state == State.DONE
