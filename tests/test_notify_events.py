"""Notification events: which audit record raises which event, the hook that queues them,
routing by event, team, project and severity, and aof.yaml's notify section checked when it
is loaded."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from aof import ConfigError, FixedClock, Fleet
from aof.model.config import load_config
from aof.notify.events import event_of
from aof.notify.route import channels_for
from aof.ops.lint import schema_errors

from .conftest import Cli
from .notify_helpers import ask, outbox_lines, set_notify

ROOT = Path(__file__).resolve().parent.parent

ALL_TO_LOG = """
notify:
  channels:
    log: "file:notifications.jsonl"
  rules:
    - events: [all]
      channels: [log]
"""


def test_without_a_notify_section_the_hook_writes_nothing(fleet: Fleet, root: Path) -> None:
    ask(fleet)
    dead = fleet.create_task("dies", ready=True, fields={"max_attempts": 1})
    tok = fleet.claim(dead.id, "a").lease["token"]  # type: ignore[index]
    fleet.settle_run(dead.id, tok, outcome="exited", reason="exit 1")
    assert fleet.get_task(dead.id).state.value == "deadletter"
    assert not (root / ".aof" / "notify").exists()


def test_an_asked_question_is_one_event_with_the_task_title_reason_and_what_to_do(
    root: Path, clock: FixedClock
) -> None:
    set_notify(root, ALL_TO_LOG)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    tid = ask(fleet, "Fix the login bug", "OAuth or passwords?")
    [ev] = outbox_lines(root)
    assert ev["event"] == "asked" and ev["severity"] == "warning"
    assert ev["task"] == tid and ev["title"] == "Fix the login bug"
    assert ev["reason"] == "OAuth or passwords?"
    assert f"aof task answer {tid} --text" in ev["hint"]
    assert len(ev["fp"]) == 24
    # a caller's --reason is the record's reason; the event still carries the question
    task = fleet.create_task("Other", ready=True)
    token = fleet.claim(task.id, "a").lease["token"]  # type: ignore[index]
    with fleet.reason("handing over"):
        fleet.block(task.id, question="Which database?", token=token)
    assert outbox_lines(root)[-1]["reason"] == "Which database?"


def test_events_of_the_lifecycle(root: Path, clock: FixedClock) -> None:
    set_notify(root, ALL_TO_LOG)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    # deadletter: attempts used up by failures
    dead = fleet.create_task("dies", ready=True, fields={"max_attempts": 1})
    tok = fleet.claim(dead.id, "a").lease["token"]  # type: ignore[index]
    fleet.settle_run(dead.id, tok, outcome="exited", reason="exit 1")
    # run_failed: a failing run with attempts left
    flaky = fleet.create_task("flaky", ready=True)
    tok = fleet.claim(flaky.id, "a").lease["token"]  # type: ignore[index]
    fleet.settle_run(flaky.id, tok, outcome="stuck", reason="no output")
    # budget_stopped
    rich = fleet.create_task("spends", ready=True)
    tok = fleet.claim(rich.id, "a").lease["token"]  # type: ignore[index]
    fleet.settle_run(rich.id, tok, outcome="over-budget", reason="usd 5.2 > 5")
    # stuck (the coder is silent; the run goes on)
    slow = fleet.create_task("silent", ready=True)
    tok = fleet.claim(slow.id, "a").lease["token"]  # type: ignore[index]
    fleet.flag_stuck(slow.id, tok, idle_s=700)
    # nothing for a plain completion
    fine = fleet.create_task("fine", ready=True)
    tok = fleet.claim(fine.id, "a").lease["token"]  # type: ignore[index]
    fleet.complete(fine.id, token=tok, summary="done")
    got = [(e["event"], e["task"]) for e in outbox_lines(root)]
    assert got == [
        ("deadletter", dead.id),
        ("run_failed", flaky.id),
        ("budget_stopped", rich.id),
        ("stuck", slow.id),
    ]
    assert "aof task resurrect" in outbox_lines(root)[0]["hint"]


def test_an_explicit_event_in_the_record_wins_over_the_table() -> None:
    record = {"action": "rejected", "to": "blocked", "event": "rejected_cap"}
    assert event_of(record) == "rejected_cap"
    assert event_of({"action": "run_ended", "to": "deadletter", "reason": "stuck: x"}) == (
        "deadletter"
    )
    assert event_of({"action": "blocked", "changes": {"blocked": {"reason": "dep"}}}) is None
    assert event_of({"action": "sla_breach"}) == "sla_breached"


def test_a_change_that_names_its_event_reaches_the_outbox(root: Path, clock: FixedClock) -> None:
    set_notify(root, ALL_TO_LOG)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    task = fleet.create_task("needs review", ready=True)
    fleet._pipeline.change(task.id, "edited", None, lambda t, m: None, event="review_waiting")
    [ev] = outbox_lines(root)
    assert ev["event"] == "review_waiting" and ev["title"] == "needs review"
    record = list(fleet.audit.records())[-1]
    assert record["event"] == "review_waiting" and schema_errors("audit", record) == []
    assert f"aof gate approve {task.id}" in ev["hint"]


ROUTED = """
notify:
  channels:
    ops: "file:ops.jsonl"
    platform: "file:platform.jsonl"
    urgent: "file:urgent.jsonl"
  severity:
    run_failed: warning
  rules:
    - events: [asked, deadletter]
      channels: [ops]
    - events: [asked]
      channels: [platform]
      teams: [platform]
    - events: [all]
      min_severity: urgent
      channels: [urgent]
"""


def test_routing_by_event_team_project_and_severity(root: Path) -> None:
    set_notify(root, ROUTED)
    section = load_config(root).data["notify"]

    def route(event: str, severity: str, team: str | None = None) -> list[str]:
        return channels_for({"event": event, "severity": severity, "team": team}, section)

    assert route("asked", "warning") == ["ops"]
    assert route("asked", "warning", "platform") == ["ops", "platform"]
    assert route("deadletter", "urgent") == ["ops", "urgent"]
    assert route("stuck", "warning") == []
    assert route("daemon_degraded", "urgent") == ["urgent"]
    by_project = {"rules": [{"events": ["all"], "channels": ["x"], "projects": ["site"]}]}
    by_project["channels"] = {"x": "file:x"}  # type: ignore[assignment]
    assert channels_for({"event": "stuck", "project": "site"}, by_project) == ["x"]
    assert channels_for({"event": "stuck", "project": "app"}, by_project) == []


def test_an_event_no_rule_routes_is_never_written(root: Path, clock: FixedClock) -> None:
    set_notify(root, ROUTED)
    fleet = Fleet(root, clock=clock, actor="human:tester")
    slow = fleet.create_task("silent", ready=True)
    tok = fleet.claim(slow.id, "a").lease["token"]  # type: ignore[index]
    fleet.flag_stuck(slow.id, tok, idle_s=700)  # stuck: warning, routed nowhere
    assert outbox_lines(root) == []
    tid = ask(fleet)
    assert [e["event"] for e in outbox_lines(root)] == ["asked"]
    assert outbox_lines(root)[0]["task"] == tid
    # the severity aof.yaml gives an event is the one it carries
    flaky = fleet.create_task("flaky", ready=True)
    tok = fleet.claim(flaky.id, "a").lease["token"]  # type: ignore[index]
    fleet.settle_run(flaky.id, tok, outcome="stuck", reason="no output")
    assert [e["event"] for e in outbox_lines(root)] == ["asked"]  # warning < urgent: unrouted


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            'notify:\n  channels:\n    ops: "json://"\n  rules: []\n',
            "aof.yaml: notify.channels.ops: 'json://': not a URL Apprise can send to",
        ),
        (
            'notify:\n  channels:\n    ops: "nosuchscheme://x"\n',
            "aof.yaml: notify.channels.ops: 'nosuchscheme://x': not a URL Apprise can send to",
        ),
        (
            'notify:\n  channels:\n    ops: "just-text"\n',
            "aof.yaml: notify.channels.ops: 'just-text': not an Apprise URL",
        ),
        (
            'notify:\n  channels:\n    log: "file:x"\n  rules:\n'
            "    - events: [askd]\n      channels: [log]\n",
            "aof.yaml: notify.rules[0].events: unknown event 'askd'",
        ),
        (
            'notify:\n  channels:\n    log: "file:x"\n  rules:\n'
            "    - events: [asked]\n      channels: [pager]\n",
            "aof.yaml: notify.rules[0].channels: unknown channel 'pager' (notify.channels: log)",
        ),
        (
            'notify:\n  channels:\n    log: "file:x"\n  rules:\n'
            "    - events: [all]\n      channels: [log]\n      min_severity: loud\n",
            "aof.yaml: notify.rules[0].min_severity: must be one of info, warning, urgent "
            "(got 'loud')",
        ),
        (
            'notify:\n  channels:\n    log: "file:../../etc/x"\n',
            "aof.yaml: notify.channels.log: 'file:../../etc/x': file: takes a path inside .aof/",
        ),
        (
            'notify:\n  channels:\n    ops: "ntfy://${TOPIC"\n',
            "aof.yaml: notify.channels.ops: 'ntfy://${TOPIC': a variable is written ${NAME}",
        ),
        ("notify:\n  storm_per_minute: 0\n", "aof.yaml: notify.storm_per_minute: must be"),
    ],
)
def test_a_bad_notify_section_is_a_clear_error_naming_the_field(
    run: Cli, root: Path, section: str, expected: str
) -> None:
    set_notify(root, section, commit=False)
    with pytest.raises(ConfigError) as err:
        load_config(root)
    assert expected in str(err.value)
    result = run("task", "list", code=None)
    assert result.exit_code != 0 and expected in result.stderr


def test_a_url_with_a_variable_is_checked_when_sent_not_when_loaded(root: Path) -> None:
    set_notify(root, 'notify:\n  channels:\n    phone: "ntfy://${NTFY_TOPIC}"\n', commit=False)
    assert load_config(root).data["notify"]["channels"]["phone"] == "ntfy://${NTFY_TOPIC}"


def test_checking_a_url_prints_nothing_of_apprise(
    root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    set_notify(root, 'notify:\n  channels:\n    ops: "json://"\n', commit=False)
    with pytest.raises(ConfigError):
        load_config(root)
    assert capfd.readouterr().err == ""
    assert not logging.getLogger("apprise").handlers or all(
        type(h).__name__ != "Keep" for h in logging.getLogger("apprise").handlers
    )


def test_the_hook_imports_no_network_library(root: Path) -> None:
    set_notify(
        root,
        'notify:\n  channels:\n    ops: "json://127.0.0.1:9/x"\n'
        "  rules:\n    - events: [all]\n      channels: [ops]\n",
    )
    load_config(root)  # aof.yaml checked (Apprise looks at the URL) and cached
    code = (
        "import sys\n"
        "from aof import Fleet\n"
        f"fleet = Fleet({str(root)!r}, commit=False)\n"
        "task = fleet.create_task('x', ready=True)\n"
        "token = fleet.claim(task.id, 'a').lease['token']\n"
        "fleet.block(task.id, question='which way?', token=token)\n"
        "names = ('apprise', 'requests', 'urllib3', 'http.client')\n"
        "print([m for m in names if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
    assert [e["event"] for e in outbox_lines(root)] == ["asked"]


def test_the_config_schema_knows_every_event() -> None:
    """schemas/config.schema.json (what editors and `aof lint` check aof.yaml with) names
    the same events as the code, in rules and in the SLA list; so does the audit record's
    schema (schemas/audit.schema.json)."""
    import json

    from aof.model.notify import ALL, EVENTS

    enums: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            values = node.get("enum")
            if isinstance(values, list) and "asked" in values:
                enums.append(values)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for name in ("config.schema.json", "audit.schema.json"):
        walk(json.loads((ROOT / "schemas" / name).read_text()))
    assert len(enums) >= 3, "an event list is missing from the schemas"
    for values in enums:
        assert [v for v in values if v != ALL] == list(EVENTS)
