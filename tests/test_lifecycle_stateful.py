"""A hypothesis state machine: a dict model of the lifecycle against the real files."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aof import AofError, FixedClock, Fleet, SeededIds, State
from aof.layout import is_month
from aof.model.task import STATES, TRANSITIONS, id_from_filename

VERBS = (
    "promote",
    "claim",
    "complete",
    "release",
    "block",
    "answer",
    "fail",
    "cancel",
    "resurrect",
    "demote",
)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aof-sm-"))
        self.clock = FixedClock("2026-11-21T09:00:00Z")
        Fleet.init(self.tmp / "f", clock=self.clock, ids=SeededIds(0), commit=False)
        config = self.tmp / "f" / "aof.yaml"  # 2 attempts: deadletter is reachable in a run
        config.write_text(config.read_text().replace("max_attempts: 3", "max_attempts: 2"))
        self.fleet = Fleet(self.tmp / "f", clock=self.clock, ids=SeededIds(1), commit=False)
        self.model: dict[str, State] = {}
        self.tokens: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self.deps: dict[str, list[str]] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # Few tasks, so that random steps chain deep sequences (claim -> block -> answer) on one.
    @precondition(lambda self: len(self.model) < 4)
    @rule(ready=st.booleans(), dep=st.integers(0, 30), with_dep=st.booleans())
    def create(self, ready: bool, dep: int, with_dep: bool) -> None:
        ids = sorted(self.model)
        deps = [ids[dep % len(ids)]] if with_dep and ids else []
        t = self.fleet.create_task(f"task {len(ids)}", ready=ready, depends_on=deps)
        self.model[t.id] = State.READY if ready else State.BACKLOG
        self.attempts[t.id] = 0
        self.deps[t.id] = deps

    def _expect(self, tid: str, verb: str) -> State | None:
        """What the model says ``verb`` does to ``tid``: the new state, or None if refused."""
        s = self.model[tid]
        limit = self.fleet.config.scheduler["max_attempts"]
        if verb == "promote":
            return State.READY if s == State.BACKLOG else None
        if verb == "demote":
            return State.BACKLOG if s == State.READY else None
        if verb == "claim":
            deps_done = all(self.model[d] == State.DONE for d in self.deps[tid])
            # Released attempts count too: once they are used up, a claim is refused.
            used_up = self.attempts[tid] >= limit
            return State.IN_PROGRESS if s == State.READY and deps_done and not used_up else None
        if verb == "complete":
            return State.DONE if s == State.IN_PROGRESS else None
        if verb in ("release",):
            return State.READY if s == State.IN_PROGRESS else None
        if verb == "block":
            return State.BLOCKED if s == State.IN_PROGRESS else None
        if verb == "answer":
            return State.READY if s == State.BLOCKED else None
        if verb == "fail":
            if s != State.IN_PROGRESS:
                return None
            return State.DEADLETTER if self.attempts[tid] >= limit else State.READY
        if verb == "cancel":
            # A held task is cancelled only by its holder's override (`--force`), never here.
            held = (State.DONE, State.CANCELLED, State.IN_PROGRESS)
            return State.CANCELLED if s not in held else None
        if verb == "resurrect":
            return State.READY if s == State.DEADLETTER else None
        raise AssertionError(verb)

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(0, 10_000), verb=st.sampled_from(VERBS))
    def act_any(self, pick: int, verb: str) -> None:
        """Any verb on any task: refusals must match the model too."""
        self.act(sorted(self.model)[pick % len(self.model)], verb)

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(0, 10_000), verb=st.sampled_from(VERBS))
    def act_valid(self, pick: int, verb: str) -> None:
        """A verb on a task the model says accepts it, so runs reach deep states."""
        able = [t for t in sorted(self.model) if self._expect(t, verb) is not None]
        if able:
            self.act(able[pick % len(able)], verb)

    def act(self, tid: str, verb: str) -> None:
        expected = self._expect(tid, verb)
        f = self.fleet
        tok = self.tokens.get(tid)
        calls = {
            "promote": lambda: f.promote(tid),
            "demote": lambda: f.demote(tid),
            "claim": lambda: f.claim(tid, "sm"),
            "complete": lambda: f.complete(tid, token=tok, summary="done"),
            "release": lambda: f.release(tid, token=tok),
            "block": lambda: f.block(tid, question="q?", token=tok),
            "answer": lambda: f.answer(tid, text="a"),
            "fail": lambda: f.fail(tid, error="e", token=tok),
            "cancel": lambda: f.cancel(tid, reason="r"),
            "resurrect": lambda: f.resurrect(tid),
        }
        try:
            task = calls[verb]()
        except AofError:
            assert expected is None, f"{verb} {tid} in {self.model[tid]} was refused"
            return
        assert expected is not None, f"{verb} {tid} in {self.model[tid]} was allowed"
        assert task.state == expected
        assert expected == self.model[tid] or expected in TRANSITIONS[self.model[tid]]
        if verb == "claim":
            self.tokens[tid] = task.lease["token"]  # type: ignore[index]
            self.attempts[tid] += 1
        if verb == "resurrect":
            self.attempts[tid] = 0
        self.model[tid] = expected

    @invariant()
    def files_match_the_model(self) -> None:
        found: dict[str, list[str]] = {}
        for state in STATES:
            d = self.fleet.root / "tasks" / state.value
            months = [p for p in d.iterdir() if p.is_dir() and is_month(p.name)]  # done, cancelled
            for p in [*d.iterdir(), *(f for m in months for f in m.iterdir())]:
                if p in months:
                    continue
                tid = id_from_filename(p.name)
                if tid:
                    found.setdefault(tid, []).append(state.value)
                else:
                    assert p.name == ".gitkeep", p
        assert {k: v for k, v in found.items()} == {k: [v.value] for k, v in self.model.items()}

    @invariant()
    def leases_exactly_on_in_progress(self) -> None:
        rows, problems = self.fleet.tasks.summaries()
        assert problems == []
        for r in rows:
            assert bool(r["holder"]) == (r["state"] == State.IN_PROGRESS.value), r


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
