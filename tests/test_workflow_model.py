"""The workflow file format (aof.model.workflow.parse): every valid workflow survives a trip
through a YAML file as aof reads it, and schemas/workflow.schema.json accepts it; every bad
input is refused with one message naming the file, the field and the value (and the schema
refuses it too, where a schema can say so)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from aof import ValidationError
from aof.model.config import read_yaml_file
from aof.model.workflow import DEFAULT_TIMEOUT_S, Gate, Workflow, parse
from aof.ops.lint import schema_errors

REL = "workflows/w.yaml"
NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True)
TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_categories=("Cc",)),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and s != "")
ENV_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@st.composite
def gates(draw: Any, name: str) -> Gate:
    kind = draw(st.sampled_from(["command", "review", "human"]))
    if kind == "command":
        timeout = draw(st.integers(1, 10_000) | st.floats(0.5, 10_000, allow_nan=False))
        env = draw(st.dictionaries(ENV_NAMES, TEXT, max_size=3))
        return Gate(name, "command", run=draw(TEXT), timeout_s=float(timeout), env=env)
    if kind == "human":
        return Gate(name, "human")
    who = draw(st.sampled_from(["role", "agent"]))
    caps = tuple(draw(st.lists(TEXT, max_size=3)))
    return Gate(name, "review", capabilities=caps, **{who: draw(NAMES)})


@st.composite
def workflows(draw: Any) -> Workflow:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    cap = draw(st.none() | st.integers(1, 20))
    return Workflow("w", tuple(draw(gates(n)) for n in names), cap)


def as_data(workflow: Workflow, form: int) -> dict[str, Any]:
    """The file's mapping for ``workflow``; ``form`` picks among the ways to write a gate."""
    out: list[Any] = []
    for g in workflow.gates:
        if g.kind == "command":
            gate: dict[str, Any] = {"name": g.name, "run": g.run}
            if g.timeout_s != DEFAULT_TIMEOUT_S or form % 2:
                gate["timeout_s"] = g.timeout_s
            if g.env:
                gate["env"] = dict(g.env)
            out.append(gate)
        elif g.kind == "human":
            out.append(
                [g.name, {"name": g.name}, {"name": g.name, "review": {"human": True}}][form % 3]
            )
        else:
            review: dict[str, Any] = {"role": g.role} if g.role else {"agent": g.agent}
            if g.capabilities:
                review["capabilities"] = list(g.capabilities)
            out.append({"name": g.name, "review": review})
    data: dict[str, Any] = {"schema": "aof/workflow/v1"} if form % 2 else {}
    if workflow.max_rejections is not None:
        data["max_rejections"] = workflow.max_rejections
    data["gates"] = out
    return data


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(workflow=workflows(), form=st.integers(0, 5))
def test_a_valid_workflow_survives_a_yaml_file_and_the_schema_takes_it(
    tmp_path: Path, workflow: Workflow, form: int
) -> None:
    data = as_data(workflow, form)
    text = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False  # ruamel's flow style writes `{run: ?0}`, which it can't read
    yaml.dump(data, text)
    path = tmp_path / "w.yaml"
    path.write_text(text.getvalue(), encoding="utf-8")
    assert parse("w", read_yaml_file(path), REL) == workflow
    assert schema_errors("workflow", data) == []


def one(data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        parse("w", data, REL)
    return str(caught.value)


GATE_KEYS = "keys: name, run, timeout_s, env, review, pr, description"
BAD: list[tuple[Any, str]] = [
    # an unknown gate kind, or a near miss of a key (did you mean)
    (
        {"gates": [{"name": "x", "shell": "y"}]},
        f"gates[0] (x).shell: unknown key (gate kinds: run (a command), review, pr; {GATE_KEYS})",
    ),
    (
        {"gates": [{"name": "x", "rn": "make"}]},
        "gates[0] (x).rn: unknown key; did you mean run? "
        f"(gate kinds: run (a command), review, pr; {GATE_KEYS})",
    ),
    (
        {"gates": [{"name": "x", "review": {"roles": "r"}}]},
        "gates[0] (x).review.roles: unknown key; did you mean role? (a review names a role, an "
        "agent or human; keys: role, agent, human, capabilities)",
    ),
    # a command and a review at once
    (
        {"gates": [{"name": "x", "run": "make", "review": {"role": "r"}}]},
        "gates[0] (x): a gate is a command (run) or a review, not both",
    ),
    # timeouts
    (
        {"gates": ["qa", {"name": "t", "run": "make", "timeout_s": -1}]},
        "gates[1] (t).timeout_s: must be a number of seconds > 0 (got -1)",
    ),
    (
        {"gates": [{"name": "t", "run": "make", "timeout_s": "15m"}]},
        "gates[0] (t).timeout_s: must be a number of seconds > 0 (got '15m')",
    ),
    (
        {"gates": [{"name": "t", "run": "make", "timeout_s": True}]},
        "gates[0] (t).timeout_s: must be a number of seconds > 0 (got True)",
    ),
    (
        {"gates": [{"name": "r", "review": {"role": "r"}, "timeout_s": 5}]},
        "gates[0] (r).timeout_s: belongs to a command gate (run)",
    ),
    # who reviews: exactly one of role, agent, human
    (
        {"gates": [{"name": "r", "review": {"role": "a", "agent": "b"}}]},
        "gates[0] (r).review: must name exactly one of role, agent or human: true "
        "(got {'role': 'a', 'agent': 'b'})",
    ),
    (
        {"gates": [{"name": "r", "review": {"role": "a", "human": True}}]},
        "gates[0] (r).review: must name exactly one of role, agent or human: true "
        "(got {'role': 'a', 'human': True})",
    ),
    (
        {"gates": [{"name": "r", "review": {}}]},
        "gates[0] (r).review: must name exactly one of role, agent or human: true (got {})",
    ),
    (
        {"gates": [{"name": "r", "review": {"human": "yes"}}]},
        "gates[0] (r).review.human: must be true (got 'yes')",
    ),
    (
        {"gates": [{"name": "r", "review": {"role": 0, "agent": "b"}}]},
        "gates[0] (r).review: must name exactly one of role, agent or human: true "
        "(got {'role': 0, 'agent': 'b'})",
    ),
    (
        {"gates": [{"name": "r", "review": {"role": "Senior Reviewer"}}]},
        "gates[0] (r).review.role: must be a slug (got 'Senior Reviewer')",
    ),
    (
        {"gates": [{"name": "r", "review": {"role": "r", "capabilities": "python"}}]},
        "gates[0] (r).review.capabilities: must be a list of names (got 'python')",
    ),
    (
        {"gates": [{"name": "r", "review": "reviewer"}]},
        "gates[0] (r).review: must be a mapping: role, agent or human (got 'reviewer')",
    ),
    # commands
    (
        {"gates": [{"name": "t", "run": "  "}]},
        "gates[0] (t).run: must be a shell command (got '  ')",
    ),
    (
        {"gates": [{"name": "t", "run": "make", "env": {"1X": "y"}}]},
        "gates[0] (t).env: must map variable names to text (got {'1X': 'y'})",
    ),
    (
        {"gates": [{"name": "t", "run": "make", "env": ""}]},
        "gates[0] (t).env: must map variable names to text (got '')",
    ),
    # names, the list, the cap, the schema
    (
        {"gates": ["Code Review"]},
        "gates[0].name: must be a short name like 'tests' (got 'Code Review')",
    ),
    ({"gates": [{"run": "make"}]}, "gates[0].name: must be a short name like 'tests' (got None)"),
    ({"gates": [["qa"]]}, "gates[0]: must be a gate name or a mapping (got ['qa'])"),
    ({"gates": []}, "gates: must be a non-empty list of gates (got [])"),
    ({"max_rejections": 2}, "gates: must be a non-empty list of gates (got None)"),
    ({"gates": ["qa"], "max_rejections": 0}, "max_rejections: must be a whole number >= 1 (got 0)"),
    (
        {"gates": ["qa"], "max_rejections": "3"},
        "max_rejections: must be a whole number >= 1 (got '3')",
    ),
    (
        {"gates": ["qa"], "max_rejections": True},
        "max_rejections: must be a whole number >= 1 (got True)",
    ),
    (
        {"gates": ["qa"], "max_rejections": 1.5},
        "max_rejections: must be a whole number >= 1 (got 1.5)",
    ),
    (
        {"schema": "aof/workflow/v2", "gates": ["qa"]},
        "schema: must be aof/workflow/v1 (got 'aof/workflow/v2')",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_a_bad_workflow_is_refused_naming_file_field_and_value(data: Any, message: str) -> None:
    assert one(data) == f"{REL}: {message}"
    assert schema_errors("workflow", data) != []  # editors see it too


def test_two_gates_of_one_name_are_refused() -> None:
    data = {"gates": ["qa", {"name": "tests", "run": "make"}, {"name": "qa"}]}
    assert one(data) == f"{REL}: gates: two gates are named 'qa': gate names must differ"


def test_the_three_kinds_and_their_defaults() -> None:
    wf = parse(
        "w",
        {
            "gates": [
                "qa",
                {"name": "t", "run": " make test ", "env": {"CI": 1}},
                {"name": "r", "review": {"agent": "rev-1", "human": False}},
            ]
        },
        REL,
    )
    qa, t, r = wf.gates
    assert (qa.kind, qa.describe()) == ("human", "qa (review by a person)")
    assert (t.kind, t.run, t.timeout_s, t.env) == ("command", "make test", 900.0, {"CI": "1"})
    assert t.describe() == "t (command: make test)"
    assert (r.kind, r.agent, r.role) == ("review", "rev-1", None)
    assert r.describe() == "r (review by agent rev-1)"
    assert wf.max_rejections is None and wf.names() == ["qa", "t", "r"]
