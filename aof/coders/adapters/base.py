"""What every coder adapter is: argv for a run, and a parser for its streamed output.

An adapter turns an :class:`Invocation` (task, prompt, model, worktree, a session to resume)
into the argv of one headless run, and gives a fresh :class:`Parser` per run that turns
each line the coder prints into normalized events (``events.jsonl``):

===================  =================================================================
``session_start``    ``session_id``, ``model``: the coder's conversation began
``text``             ``text``: what the model said (truncated to 2,000 characters)
``tool``             ``tool``, ``input``: the model used a tool
``usage``            ``tokens_in`` (input not read from a cache), ``tokens_out``,
                     ``cost_usd``; ``cumulative`` when the figures are totals so far rather
                     than one step's; where the coder says: ``cached_in`` (cache reads),
                     ``cache_write``, ``reasoning``, ``model``, and ``models`` (per model:
                     ``input``, ``cached_input``, ``cache_write``, ``output``,
                     ``reasoning``, ``cost_usd``; see :mod:`aof.coders.pricing`)
``limit``            ``reset_at`` (ISO time or null), ``message``: a usage/rate limit hit
``context``          ``message``: the context window is exhausted
``context_use``      ``used``, ``window``: tokens of the context window in use now, and its
                     size (from coders that report it; :func:`context_use`)
``error``            ``message``
``session_end``      ``ok``, ``result``: the coder said it finished
===================  =================================================================

Third-party adapters register under the ``aof.coders`` entry-point group exactly as the
built-ins do (``pyproject.toml``), pointing at a subclass of :class:`Adapter`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

TEXT_MAX = 2000


@dataclass
class Invocation:
    """Everything an adapter may put on a command line."""

    task_id: str
    title: str
    prompt: str
    root: str
    cwd: str
    model: str | None = None
    project_root: str = ""
    session_id: str | None = None  # resume this conversation (a follow-up), if supported
    interactive: bool = False  # in a tmux pane, where a person may type
    spec: dict[str, Any] = field(default_factory=dict)  # aof.yaml coders.<name>


class Parser:
    """Turns a coder's output lines into normalized events. One instance per run."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def feed(self, line: str) -> list[dict[str, Any]]:
        """Events for one line of stdout; plain text by default."""
        return self.text_line(line)

    def feed_stderr(self, line: str) -> list[dict[str, Any]]:
        """Events for one line of stderr: only limits, context exhaustion and errors."""
        return signals(line, self.now())

    def text_line(self, line: str) -> list[dict[str, Any]]:
        line = line.rstrip("\n")
        if not line.strip():
            return []
        return [*signals(line, self.now()), {"event": "text", "text": line[:TEXT_MAX]}]


class JsonLinesParser(Parser):
    """For coders that stream one JSON object per line: non-JSON lines are plain text."""

    def feed(self, line: str) -> list[dict[str, Any]]:
        stripped = line.strip()
        if not stripped.startswith("{"):
            return self.text_line(line)
        try:
            data = json.loads(stripped)
        except ValueError:
            return self.text_line(line)
        if not isinstance(data, dict):
            return []
        return self.event(data)

    def event(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError


class Adapter:
    """One coder CLI. Subclasses set ``name`` and ``program`` and build the argv."""

    name: ClassVar[str] = ""
    program: ClassVar[str] = ""
    resumes: ClassVar[bool] = False  # can continue a conversation by session id
    description: ClassVar[str] = ""
    model_flag: ClassVar[str] = "--model"
    # Variables of the environment aof runs in that this coder needs (its provider's keys):
    # the only ones it inherits besides PATH, HOME, LANG, TERM and USER (aof.coders.resolve).
    provider_env: ClassVar[tuple[str, ...]] = ()

    def executable(self, inv: Invocation) -> str:
        return str(inv.spec.get("program") or self.program)

    def model_args(self, inv: Invocation) -> list[str]:
        # One `--opt=value` argument: a value can never be read as an option of its own.
        return [f"{self.model_flag}={inv.model}"] if inv.model else []

    def argv(self, inv: Invocation) -> list[str]:
        """The command line of one headless run (``interactive``: one for a tmux pane)."""
        raise NotImplementedError

    def env(self, inv: Invocation) -> dict[str, str]:
        return {}

    def parser(self) -> Parser:
        return Parser()

    def extra(self, inv: Invocation) -> list[str]:
        return [str(a) for a in inv.spec.get("args") or []]


def short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def usage(
    tokens_in: Any = 0,
    tokens_out: Any = 0,
    cost: Any = None,
    *,
    cumulative: bool = False,
    cached_in: Any = 0,
    cache_write: Any = 0,
    reasoning: Any = 0,
    model: Any = None,
    models: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "usage",
        "tokens_in": _int(tokens_in),
        "tokens_out": _int(tokens_out),
        "cumulative": cumulative,
    }
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        event["cost_usd"] = float(cost)
    for key, value in (("cached_in", cached_in), ("cache_write", cache_write)):
        if _int(value):
            event[key] = _int(value)
    if _int(reasoning):
        event["reasoning"] = _int(reasoning)
    if model:
        event["model"] = str(model)
    if models:
        event["models"] = models
    return event


def context_use(used: Any, window: Any) -> list[dict[str, Any]]:
    """A ``context_use`` event, or nothing when the figures are not positive numbers."""
    used, window = _int(used), _int(window)
    if used <= 0 or window <= 0:
        return []
    return [{"event": "context_use", "used": used, "window": window}]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# --- usage limits and context exhaustion ----------------------------------------------------

LIMIT_RE = re.compile(
    r"usage limit|rate.?limit(?:ed| reached| exceeded|error)|quota exceeded|exceeded your "
    r"(?:current )?quota|insufficient_quota|resource_exhausted|hit your (?:usage )?limit|"
    r"limit reached|too many requests|usage_limit_reached",
    re.IGNORECASE,
)
CONTEXT_RE = re.compile(
    r"prompt is too long|context[_ ]length[_ ]exceeded|context ?window ?exceeded|"
    r"exceeds? the (?:model's )?(?:maximum )?context|out of room in the model's context|"
    r"maximum context length|contextoverflow|context window is full",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"\|(\d{10})\b")
_RESETS_IN_S = re.compile(r"resets?_in_seconds\W+(\d+)", re.IGNORECASE)
_UNIT = r"\s*(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
# Linear: each repetition starts at a separator or a digit, never at the same space twice.
_TRY_IN = re.compile(
    rf"(?:try again|resets?|retry) in\s*(\d+{_UNIT}(?:\s*(?:,\s*|and\s+)?\d+{_UNIT})*)",
    re.IGNORECASE,
)
_AT_CLOCK = re.compile(
    r"(?:resets?|try again)\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?"
    r"(?:\s*\(([A-Za-z_]+/[A-Za-z_/]+)\))?",
    re.IGNORECASE,
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


SIGNAL_MAX = 8192  # a longer line is cut before any pattern runs on it


def signals(text: str, now: datetime) -> list[dict[str, Any]]:
    """A ``limit`` or ``context`` event when ``text`` reports one, else nothing.

    Only the first SIGNAL_MAX characters are looked at: a coder's line can be any length,
    and the supervisor that reads it also enforces budgets and heartbeats.
    """
    text = text[:SIGNAL_MAX]
    if CONTEXT_RE.search(text):
        return [{"event": "context", "message": short(text.strip())}]
    if LIMIT_RE.search(text):
        reset = reset_time(text, now)
        return [
            {
                "event": "limit",
                "reset_at": reset.strftime("%Y-%m-%dT%H:%M:%SZ") if reset else None,
                "message": short(text.strip()),
            }
        ]
    return []


def reset_time(text: str, now: datetime) -> datetime | None:
    """When a usage limit lifts, as far as the message says (UTC), else None."""
    m = _EPOCH.search(text)
    if m:
        return datetime.fromtimestamp(int(m.group(1)), UTC)
    m = _RESETS_IN_S.search(text)
    if m:
        return now + timedelta(seconds=int(m.group(1)))
    m = _TRY_IN.search(text)
    if m:
        total = 0
        for amount, unit in re.findall(r"(\d+)\s*([a-z]+)", m.group(1), re.IGNORECASE):
            total += int(amount) * _UNIT_S.get(unit[0].lower(), 0)
        if total:
            return now + timedelta(seconds=total)
    m = _AT_CLOCK.search(text)
    if m and (m.group(2) or m.group(3)):
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        ampm = (m.group(3) or "").replace(".", "").lower()
        if ampm == "pm" and hour < 12:
            hour += 12
        if ampm == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            return None
        tz: Any = UTC
        if m.group(4):
            try:
                from zoneinfo import ZoneInfo

                tz = ZoneInfo(m.group(4))
            except Exception:
                tz = UTC
        else:
            tz = datetime.now().astimezone().tzinfo or UTC  # the machine's local time
        local = now.astimezone(tz)
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= local:
            at += timedelta(days=1)
        return at.astimezone(UTC)
    return None
