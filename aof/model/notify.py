"""The ``notify:`` section of aof.yaml: channels, rules, storm control, retries.

The events a fleet raises, each with its default severity, live here too: the section is
validated against them when aof.yaml is loaded (:func:`validate_notify`), and the notifier
(:mod:`aof.notify`) routes by them. A channel is an Apprise URL (checked by Apprise itself,
imported only when the section names one), ``file:PATH`` (a JSON line per message, under
``.aof/``) or ``command:ARGV`` (the message on stdin). ``${VAR}`` in a channel is taken from
the environment when a message is sent, never before: a URL that holds one is checked then.
"""

from __future__ import annotations

import re
from typing import Any

# Event -> default severity. The order is the one docs/notifications.md lists them in.
EVENTS: dict[str, str] = {
    "asked": "warning",
    "review_waiting": "warning",
    "rejected": "info",
    "rejected_cap": "urgent",
    "deadletter": "urgent",
    "budget_stopped": "warning",
    "sla_breached": "warning",
    "stuck": "warning",
    "run_failed": "info",
    "daemon_degraded": "urgent",
    "base_red": "warning",
    "merge_waiting": "warning",
    "pr_stuck": "warning",
    "budget_warning": "warning",
    "budget_exhausted": "urgent",
    "host_down": "urgent",
    "sync_conflict": "warning",
}
ALL = "all"  # in a rule's events: every event
SEVERITIES = ("info", "warning", "urgent")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
STORM_PER_MINUTE = 10  # messages a channel gets in a minute before the rest go as a digest
RETRY = {"attempts": 8, "base_s": 5.0, "max_s": 900.0}

CHANNEL_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}\Z")
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
SECTION_KEYS = ("channels", "rules", "storm_per_minute", "severity", "retry")
RULE_KEYS = ("events", "channels", "teams", "projects", "min_severity")


def channel_kind(spec: str) -> str:
    """``file``, ``command`` or ``apprise``: how a channel's messages are sent."""
    if spec.startswith("file:"):
        return "file"
    if spec.startswith("command:"):
        return "command"
    return "apprise"


def validate_notify(section: Any, bad: Any) -> None:
    """ValidationError (made by ``bad(field, message)``) for anything wrong in ``notify``."""
    if not isinstance(section, dict):
        raise bad("notify", f"must be a mapping with channels and rules (got {section!r})")
    for key in section:
        if key not in SECTION_KEYS:
            raise bad(f"notify.{key}", f"not a notify setting ({', '.join(SECTION_KEYS)})")
    channels = section.get("channels") or {}
    if not isinstance(channels, dict):
        raise bad("notify.channels", f"must be a mapping of names to URLs (got {channels!r})")
    for name, spec in channels.items():
        _check_channel(str(name), spec, bad)
    rules = section.get("rules") or []
    if not isinstance(rules, list):
        raise bad("notify.rules", f"must be a list of rules (got {rules!r})")
    for i, rule in enumerate(rules):
        _check_rule(f"notify.rules[{i}]", rule, set(channels), bad)
    storm = section.get("storm_per_minute", STORM_PER_MINUTE)
    if isinstance(storm, bool) or not isinstance(storm, int) or storm < 1:
        raise bad("notify.storm_per_minute", f"must be a whole number >= 1 (got {storm!r})")
    severity = section.get("severity") or {}
    if not isinstance(severity, dict):
        raise bad(
            "notify.severity", f"must be a mapping of events to severities (got {severity!r})"
        )
    for event, level in severity.items():
        if event not in EVENTS:
            raise bad(f"notify.severity.{event}", f"unknown event ({', '.join(EVENTS)})")
        if level not in SEVERITIES:
            raise bad(
                f"notify.severity.{event}",
                f"must be one of {', '.join(SEVERITIES)} (got {level!r})",
            )
    retry = section.get("retry") or {}
    if not isinstance(retry, dict):
        raise bad("notify.retry", f"must be a mapping with attempts, base_s, max_s (got {retry!r})")
    for key, value in retry.items():
        if key not in RETRY:
            raise bad(f"notify.retry.{key}", f"not a retry setting ({', '.join(RETRY)})")
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if not number or value < (1 if key == "attempts" else 0) or value == 0:
            raise bad(f"notify.retry.{key}", f"must be a number > 0 (got {value!r})")


def _check_channel(name: str, spec: Any, bad: Any) -> None:
    field = f"notify.channels.{name}"
    if not CHANNEL_NAME_RE.match(name):
        raise bad(field, "a channel name is lower-case letters, digits, '-' and '_'")
    if not isinstance(spec, str) or not spec.strip():
        raise bad(field, f"must be an Apprise URL, file:PATH or command:ARGV (got {spec!r})")
    broken = re.sub(VAR_RE, "", spec)
    if "${" in broken:
        raise bad(field, f"{spec!r}: a variable is written ${{NAME}} (letters, digits, '_')")
    kind = channel_kind(spec)
    if kind == "file":
        path = spec[len("file:") :].strip()
        parts = path.split("/")
        if not path or path.startswith("/") or ".." in parts:
            raise bad(field, f"{spec!r}: file: takes a path inside .aof/ (no '/' first, no '..')")
    elif kind == "command":
        import shlex

        try:
            argv = shlex.split(spec[len("command:") :])
        except ValueError as exc:
            raise bad(field, f"{spec!r}: not a command line ({exc})") from None
        if not argv:
            raise bad(field, f"{spec!r}: command: needs a program to run")
    elif not VAR_RE.search(spec):  # with ${VAR}: checked once expanded, when sending
        why = apprise_problem(spec)
        if why:
            raise bad(field, f"{spec!r}: {why}")


def apprise_problem(url: str) -> str | None:
    """Why Apprise cannot send to ``url`` (not a URL it knows, or missing parts), or None."""
    if "://" not in url:
        return "not an Apprise URL (scheme://..., e.g. ntfy://topic, json://host/path)"
    try:
        apprise = import_apprise()
    except ImportError:  # pragma: no cover - apprise is a dependency
        return "Apprise URLs need the apprise package (pip install apprise)"
    with captured_apprise_log() as said:
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        detail = f" ({said[-1]})" if said else ""
        return f"not a URL Apprise can send to{detail}"
    return None


def import_apprise() -> Any:
    """The apprise module. Some of its plugins import modules Python deprecates (imghdr):
    those warnings are Apprise's to fix, not the fleet's to see."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        import apprise.apprise

        # Apprise loads its plugins on first use; load them here, under this filter.
        _ = "json" in apprise.apprise.N_MGR
    return apprise


class captured_apprise_log:
    """Within the block, Apprise's log lines of this thread (WARNING and up) go to a list
    instead of stderr; the list is what ``with`` gives."""

    def __enter__(self) -> list[str]:
        import logging
        import threading

        self.lines: list[str] = []
        me = threading.get_ident()
        lines = self.lines

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.thread == me and record.levelno >= logging.WARNING:
                    lines.append(record.getMessage())

        self.logger = logging.getLogger("apprise")
        self.handler = Keep()
        self.logger.addHandler(self.handler)
        return self.lines

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)


def _check_rule(field: str, rule: Any, channels: set[str], bad: Any) -> None:
    if not isinstance(rule, dict):
        raise bad(field, f"must be a mapping with events and channels (got {rule!r})")
    for key in rule:
        if key not in RULE_KEYS:
            raise bad(f"{field}.{key}", f"not a rule setting ({', '.join(RULE_KEYS)})")
    events = rule.get("events")
    if not isinstance(events, list) or not events:
        raise bad(f"{field}.events", f"must be a list of events, or [all] (got {events!r})")
    for event in events:
        if event != ALL and event not in EVENTS:
            raise bad(
                f"{field}.events",
                f"unknown event {event!r} (events: {', '.join(EVENTS)}; or {ALL})",
            )
    names = rule.get("channels")
    if not isinstance(names, list) or not names:
        raise bad(f"{field}.channels", f"must be a list of channel names (got {names!r})")
    for name in names:
        if name not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            raise bad(
                f"{field}.channels",
                f"unknown channel {name!r} (notify.channels: {known})",
            )
    for key in ("teams", "projects"):
        value = rule.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and SLUG_RE.match(v) for v in value)
        ):
            raise bad(f"{field}.{key}", f"must be a list of slugs (got {value!r})")
    level = rule.get("min_severity", "info")
    if level not in SEVERITIES:
        raise bad(
            f"{field}.min_severity", f"must be one of {', '.join(SEVERITIES)} (got {level!r})"
        )


__all__ = [
    "ALL",
    "EVENTS",
    "RETRY",
    "SEVERITIES",
    "SEVERITY_RANK",
    "STORM_PER_MINUTE",
    "VAR_RE",
    "apprise_problem",
    "captured_apprise_log",
    "channel_kind",
    "import_apprise",
    "validate_notify",
]
