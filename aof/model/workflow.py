"""Workflows (``workflows/<name>.yaml``): the gates a task passes, in order, before it is done.

::

    schema: aof/workflow/v1
    max_rejections: 3            # else workflow.max_rejections in aof.yaml, default 3
    gates:
      - name: tests
        run: make test           # a command gate: run by aof, in the task's worktree
        timeout_s: 900
      - name: code-review
        review: {role: reviewer}   # or {agent: NAME} or {human: true}; capabilities: [...]
      - qa                       # a bare name: a review gate for a person
      - pr: {merge: auto, method: squash, approvals: 1}   # a pull request (named pr)

Four kinds of gate:

- **command** (``run``): aof runs it itself, never the agent, at the head commit of the
  task's branch; it passes on exit status 0 (``timeout_s``, default 900; ``env``).
- **review** by an agent (``review: {role: R}`` or ``{agent: NAME}``, optionally with the
  ``capabilities`` the reviewer's profile must hold): dispatched to a reviewer that is not
  the agent that did the work.
- **human** (``review: {human: true}``, a bare name, or a mapping with only a name): waits
  for ``aof gate approve|reject`` by a person.
- **pr** (``pr: {merge, method, approvals}``): the branch is pushed and a pull request opened
  on the project's forge; the daemon reacts to its checks and reviews and, with ``merge:
  auto``, merges it at the head commit it saw green and approved (docs/forge.md).

:func:`parse` checks a workflow's mapping and names the file, the field and the value of
whatever is wrong: an unknown gate kind or key, two gates of one name, a timeout that is
not a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ValidationError

GateKind = Literal["command", "review", "human", "pr"]
KINDS: tuple[GateKind, ...] = ("command", "review", "human", "pr")
DEFAULT_TIMEOUT_S = 900.0
DEFAULT_MAX_REJECTIONS = 3
SCHEMA = "aof/workflow/v1"
GATE_KEYS = ("name", "run", "timeout_s", "env", "review", "pr", "description")
PR_KEYS = ("merge", "method", "approvals")
MERGE_MODES = ("auto", "manual")
MERGE_METHODS = ("squash", "merge", "rebase")
REVIEW_KEYS = ("role", "agent", "human", "capabilities")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Gate:
    """One gate of a workflow."""

    name: str
    kind: GateKind
    run: str | None = None  # command gates: the shell command
    timeout_s: float = DEFAULT_TIMEOUT_S
    env: dict[str, str] = field(default_factory=dict)
    role: str | None = None  # review gates: who may review
    agent: str | None = None
    capabilities: tuple[str, ...] = ()
    merge: str = "manual"  # pr gates: auto merges when approved and green, manual tells a person
    method: str = "squash"
    approvals: int = 1

    def describe(self) -> str:
        """The gate in a few words: ``tests (command: make test)``."""
        if self.kind == "command":
            return f"{self.name} (command: {self.run})"
        if self.kind == "human":
            return f"{self.name} (review by a person)"
        if self.kind == "pr":
            return f"{self.name} (pull request, merge {self.merge})"
        who = f"agent {self.agent}" if self.agent else f"role {self.role}"
        caps = f" with {', '.join(self.capabilities)}" if self.capabilities else ""
        return f"{self.name} (review by {who}{caps})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "command":
            out.update(run=self.run, timeout_s=self.timeout_s)
        if self.kind == "pr":
            out.update(merge=self.merge, method=self.method, approvals=self.approvals)
        if self.role:
            out["role"] = self.role
        if self.agent:
            out["agent"] = self.agent
        if self.capabilities:
            out["capabilities"] = list(self.capabilities)
        return out


@dataclass(frozen=True)
class Workflow:
    """A parsed workflow file."""

    name: str
    gates: tuple[Gate, ...]
    max_rejections: int | None = None

    def gate(self, name: str | None) -> Gate | None:
        return next((g for g in self.gates if g.name == name), None)

    def names(self) -> list[str]:
        return [g.name for g in self.gates]


def parse(name: str, data: Any, rel: str) -> Workflow:
    """The workflow ``name`` from its file's mapping ``data`` (``rel``: the file, for errors)."""

    def bad(where: str, msg: str) -> ValidationError:
        return ValidationError(f"{rel}: {where}: {msg}")

    if isinstance(data, list):  # the oldest form: a bare list of gate names
        data = {"gates": data}
    if not isinstance(data, dict):
        raise bad("(file)", f"must be a mapping with gates (got {type(data).__name__})")
    schema = data.get("schema")
    if schema is not None and schema != SCHEMA:
        raise bad("schema", f"must be {SCHEMA} (got {schema!r})")
    gates_data = data.get("gates")
    if not isinstance(gates_data, list) or not gates_data:
        raise bad("gates", f"must be a non-empty list of gates (got {gates_data!r})")
    gates = tuple(_gate(g, i, bad) for i, g in enumerate(gates_data))
    seen: set[str] = set()
    for g in gates:
        if g.name in seen:
            raise bad("gates", f"two gates are named {g.name!r}: gate names must differ")
        seen.add(g.name)
    cap = data.get("max_rejections")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise bad("max_rejections", f"must be a whole number >= 1 (got {cap!r})")
    return Workflow(name, gates, cap)


def _gate(data: Any, i: int, bad: Any) -> Gate:
    where = f"gates[{i}]"
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise bad(where, f"must be a gate name or a mapping (got {data!r})")
    if "pr" in data and "name" not in data:
        data = {"name": "pr", **data}  # `- pr: {...}`: a gate named pr
    gname = data.get("name")
    if not isinstance(gname, str) or not NAME_RE.match(gname):
        raise bad(f"{where}.name", f"must be a short name like 'tests' (got {gname!r})")
    where = f"gates[{i}] ({gname})"
    unknown = [k for k in data if k not in GATE_KEYS]
    if unknown:
        raise bad(
            f"{where}.{unknown[0]}",
            _unknown(str(unknown[0]), GATE_KEYS, "gate kinds: run (a command), review, pr"),
        )
    kinds = [k for k in ("run", "review", "pr") if k in data]
    if kinds == ["run", "review"]:
        raise bad(where, "a gate is a command (run) or a review, not both")
    if len(kinds) > 1:
        raise bad(where, f"a gate is one of a command (run), a review or a pr, not {kinds}")
    if "pr" in data:
        return _pr_gate(gname, data["pr"], where, bad)
    if "run" in data:
        return _command_gate(gname, data, where, bad)
    for key in ("timeout_s", "env"):
        if key in data:
            raise bad(f"{where}.{key}", "belongs to a command gate (run)")
    review = data.get("review", {"human": True})
    if not isinstance(review, dict):
        raise bad(f"{where}.review", f"must be a mapping: role, agent or human (got {review!r})")
    return _review_gate(gname, review, where, bad)


def _pr_gate(gname: str, pr: Any, where: str, bad: Any) -> Gate:
    pr = {} if pr is None else pr
    if not isinstance(pr, dict):
        raise bad(f"{where}.pr", f"must be a mapping: merge, method, approvals (got {pr!r})")
    unknown = [k for k in pr if k not in PR_KEYS]
    if unknown:
        raise bad(f"{where}.pr.{unknown[0]}", _unknown(str(unknown[0]), PR_KEYS, "a pr gate"))
    merge = pr.get("merge", "manual")
    if merge not in MERGE_MODES:
        raise bad(f"{where}.pr.merge", f"must be auto or manual (got {merge!r})")
    method = pr.get("method", "squash")
    if method not in MERGE_METHODS:
        raise bad(f"{where}.pr.method", f"must be squash, merge or rebase (got {method!r})")
    approvals = pr.get("approvals", 1)
    if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 0:
        raise bad(f"{where}.pr.approvals", f"must be a whole number >= 0 (got {approvals!r})")
    return Gate(gname, "pr", merge=str(merge), method=str(method), approvals=int(approvals))


def _command_gate(gname: str, data: dict[str, Any], where: str, bad: Any) -> Gate:
    run = data["run"]
    if not isinstance(run, str) or not run.strip():
        raise bad(f"{where}.run", f"must be a shell command (got {run!r})")
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise bad(f"{where}.timeout_s", f"must be a number of seconds > 0 (got {timeout!r})")
    env = data.get("env")
    env = {} if env is None else env
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and ENV_RE.match(k) and isinstance(v, str | int | float)
        for k, v in env.items()
    ):
        raise bad(f"{where}.env", f"must map variable names to text (got {env!r})")
    return Gate(
        gname,
        "command",
        run=run.strip(),
        timeout_s=float(timeout),
        env={k: str(v) for k, v in env.items()},
    )


def _review_gate(gname: str, review: dict[str, Any], where: str, bad: Any) -> Gate:
    unknown = [k for k in review if k not in REVIEW_KEYS]
    if unknown:
        raise bad(
            f"{where}.review.{unknown[0]}",
            _unknown(str(unknown[0]), REVIEW_KEYS, "a review names a role, an agent or human"),
        )
    # None or false is "not this one" (``human: false``); `is`, as 0 == False in Python.
    who = [k for k in ("role", "agent", "human") if not _absent(review.get(k))]
    if len(who) != 1:
        raise bad(
            f"{where}.review",
            f"must name exactly one of role, agent or human: true (got {review!r})",
        )
    caps = review.get("capabilities")
    caps = [] if caps is None else caps
    if not isinstance(caps, list) or not all(isinstance(c, str) and c for c in caps):
        raise bad(f"{where}.review.capabilities", f"must be a list of names (got {caps!r})")
    if who[0] == "human":
        if review["human"] is not True:
            raise bad(f"{where}.review.human", f"must be true (got {review['human']!r})")
        return Gate(gname, "human")
    value = review[who[0]]
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise bad(f"{where}.review.{who[0]}", f"must be a slug (got {value!r})")
    return Gate(
        gname,
        "review",
        role=value if who[0] == "role" else None,
        agent=value if who[0] == "agent" else None,
        capabilities=tuple(caps),
    )


def _absent(value: Any) -> bool:
    return value is None or value is False


def _unknown(key: str, known: tuple[str, ...], hint: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    guess = f"; did you mean {close[0]}?" if close else ""
    return f"unknown key{guess} ({hint}; keys: {', '.join(known)})"


__all__ = ["KINDS", "Gate", "GateKind", "Workflow", "parse"]
