"""Tasks: states, the lifecycle table, frontmatter fields and their validation.

A task's state is the directory its file sits in (``tasks/<state>/``), never a field. The
lifecycle table below is the contract of DESIGN section 3; :class:`aof.Fleet` enforces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..clock import ALPHABET, parse_time
from ..errors import ValidationError
from ..files.cardfile import Card
from .branches import BRANCH_RE

SCHEMA = "aof/task/v1"
REQUIRED = ("schema", "id", "title", "created")


class State(StrEnum):
    BACKLOG = "backlog"
    READY = "ready"
    IN_PROGRESS = "in-progress"
    REVIEW = "review"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"
    DEADLETTER = "deadletter"


STATES: tuple[State, ...] = tuple(State)
TERMINAL = frozenset({State.DONE, State.CANCELLED})
ACTIVE = tuple(s for s in STATES if s not in TERMINAL)

# from -> the states it may move to (DESIGN 3). `cancelled` is reachable from every
# non-terminal state. Our additions: ready -> backlog (demote: parking a task again), and
# ready/backlog -> blocked, which DESIGN 3's prose needs ("a dependency in cancelled or
# deadletter blocks its dependents visibly") but its table lacks.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.BACKLOG: frozenset({State.READY, State.BLOCKED, State.CANCELLED}),
    State.READY: frozenset(
        {State.IN_PROGRESS, State.BACKLOG, State.BLOCKED, State.DEADLETTER, State.CANCELLED}
    ),
    State.IN_PROGRESS: frozenset(
        {State.REVIEW, State.DONE, State.BLOCKED, State.READY, State.DEADLETTER, State.CANCELLED}
    ),
    State.REVIEW: frozenset({State.DONE, State.READY, State.BLOCKED, State.CANCELLED}),
    State.BLOCKED: frozenset({State.READY, State.DEADLETTER, State.CANCELLED}),
    State.DEADLETTER: frozenset({State.READY, State.CANCELLED}),
    State.DONE: frozenset(),
    State.CANCELLED: frozenset(),
}

PRIORITIES = ("critical", "high", "normal", "low")
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}

# The order aof writes known keys in; unknown (human) keys follow in their own order.
KEY_ORDER = (
    "schema", "id", "title", "priority", "team", "project", "issue", "routing", "depends_on",
    "parent", "workflow", "created", "updated", "entered", "created_by", "due", "sla", "coder",
    "model", "budget", "spent", "branch", "batch", "attempts", "max_attempts", "fence", "lease",
    "retry_after", "sla_notified", "last_error", "blocked", "gate", "labels",
)  # fmt: skip

# How alike an unknown key must be to a known one to be taken for a typo of it (difflib's
# ratio): `priorty`, `label`, `depends`, `budjet` are; `owner`, `sprint`, `estimate` are not.
NEAR_MISS = 0.8


def near_miss(key: str, known: Iterable[str] = KEY_ORDER) -> str | None:
    """The known key that unknown ``key`` is most likely a typo of, or None (a key of yours)."""
    import difflib

    names = list(known)
    if key in names:
        return None
    close = difflib.get_close_matches(key, names, n=1, cutoff=NEAR_MISS)
    return close[0] if close else None


def field_path(key: str) -> list[str]:
    """``budget.usd`` as ``["budget", "usd"]``; ValidationError for an empty part."""
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise ValidationError(f"field {key!r}: not a field name (parts joined by '.')")
    return parts


def set_field(meta: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in ``meta``, creating the mappings on its way."""
    parts = field_path(key)
    node = meta
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ValidationError(f"{key}: {where} is {child!r}, not a mapping")
        node = child
    node[parts[-1]] = value


def unset_field(meta: dict[str, Any], key: str) -> None:
    """Remove dotted ``key`` from ``meta`` (and the mappings it leaves empty)."""
    parts = field_path(key)
    trail = [meta]
    for part in parts[:-1]:
        child = trail[-1].get(part)
        if not isinstance(child, dict):
            return
        trail.append(child)
    trail[-1].pop(parts[-1], None)
    for depth in range(len(parts) - 1, 0, -1):
        if trail[depth]:
            break
        trail[depth - 1].pop(parts[depth - 1], None)


ID_RE = re.compile(rf"t-[{ALPHABET}]{{4,16}}\Z")
REF_RE = re.compile(rf"(?:t-)?[{ALPHABET}]{{1,16}}\Z")
FILE_RE = re.compile(rf"(t-[{ALPHABET}]{{4,16}})(?:-[^/]*)?\.md\Z")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
LABEL_RE = re.compile(r"[^\s,][^,]{0,63}\Z")


def id_from_filename(name: str) -> str | None:
    """The task id in a file name like ``t-3kf9a2-fix-login.md``, or None for other files."""
    m = FILE_RE.match(name)
    return m.group(1) if m else None


_FILES_RE = re.compile(rf"^(t-[{ALPHABET}]{{4,16}})(?:-[^/\n]*)?\.md$", re.M)


def ids_in_names(names: list[str]) -> list[str]:
    """The task ids of those of ``names`` that are task files, in their order: what
    :func:`id_from_filename` gives for each, in one pass over the names joined (a directory
    of thousands of files is read again whenever it changes)."""
    joined = "\n".join(names)
    if joined.count("\n") != len(names) - 1:  # a name with a line break: one by one
        return [tid for tid in map(id_from_filename, names) if tid is not None]
    return _FILES_RE.findall(joined)


def slugify(text: str, limit: int = 40) -> str:
    """A file-name slug from a title: ascii, lower case, dashes, at most ``limit`` chars."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def ordered(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with known keys in :data:`KEY_ORDER` first, unknown keys after in their order."""
    out = {k: meta[k] for k in KEY_ORDER if k in meta}
    for k, v in meta.items():
        if k not in out and k not in KEY_ORDER:
            out[k] = v
    return out


class Task:
    """One task as read from disk: where it is, what its frontmatter says, and its body."""

    __slots__ = ("card", "id", "path", "state")

    def __init__(self, id: str, state: State, path: Path, card: Card) -> None:
        self.id = id
        self.state = state
        self.path = path
        self.card = card

    def __repr__(self) -> str:
        return f"Task({self.id!r}, {self.state.value!r}, {self.path.name!r})"

    @property
    def meta(self) -> dict[str, Any]:
        return self.card.meta

    @property
    def body(self) -> str:
        return self.card.body

    @property
    def title(self) -> str:
        return str(self.meta.get("title", ""))

    @property
    def priority(self) -> str:
        return str(self.meta.get("priority") or "normal")

    @property
    def depends_on(self) -> list[str]:
        return list(self.meta.get("depends_on") or [])

    @property
    def lease(self) -> dict[str, Any] | None:
        lease = self.meta.get("lease")
        return lease if isinstance(lease, dict) and lease else None

    @property
    def rev(self) -> str:
        """A short content hash: pass it back as ``expect_rev`` to refuse lost updates."""
        import hashlib

        return hashlib.sha256(self.card.text.encode("utf-8")).hexdigest()[:12]


# --- validation ---------------------------------------------------------------------------
# The same rules as schemas/task.schema.json (a test checks they agree); written by hand
# because this runs on every write and must name the file, line, field and value.


def _fail(where: str, card: Card | None, key: str, message: str) -> ValidationError:
    line = card.line_of(key.split(".")[0]) if card is not None else 0
    loc = f"{where}:{line}" if card is not None else where
    return ValidationError(f"{loc}: {key}: {message}")


# The same pattern as the schemas' time fields: a date, a time, optional seconds and zone.
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\Z")


def _is_time(value: Any) -> bool:
    if not isinstance(value, str) or not TIME_RE.match(value):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _is_int(value: Any) -> bool:
    """An integer as JSON Schema counts them: 3 and 3.0, never True."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def validate(meta: dict[str, Any], where: str = "<task>", card: Card | None = None) -> None:
    """Raise ValidationError for the first field of ``meta`` that breaks the task schema."""

    def bad(key: str, message: str) -> ValidationError:
        return _fail(where, card, key, message)

    # An optional field set to null (an empty `key:` line) means the same as leaving it out.
    meta = {k: v for k, v in meta.items() if v is not None or k in REQUIRED}

    if meta.get("schema") != SCHEMA:
        raise bad("schema", f"must be {SCHEMA!r} (got {meta.get('schema')!r})")
    tid = meta.get("id")
    if not isinstance(tid, str) or not ID_RE.match(tid):
        raise bad("id", f"must look like 't-' + 4-16 of {ALPHABET!r} (got {tid!r})")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise bad("title", f"is required and must be non-empty text (got {title!r})")
    if "\n" in title or len(title) > 200:
        raise bad("title", "must be one line of at most 200 characters")
    prio = meta.get("priority", "normal")
    if prio not in PRIORITIES:
        raise bad("priority", f"must be one of {', '.join(PRIORITIES)} (got {prio!r})")
    for key in ("team", "project", "workflow"):
        value = meta.get(key)
        if value is not None and (not isinstance(value, str) or not SLUG_RE.match(value)):
            raise bad(key, f"must be a slug like 'my-team' (got {value!r})")
    for key in ("coder", "model", "last_error", "batch"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(key, f"must be text (got {value!r})")
    branch = meta.get("branch")
    if branch is not None and (not isinstance(branch, str) or not BRANCH_RE.match(branch)):
        raise bad("branch", f"must be a git branch name like 'fix-login' (got {branch!r})")
    if "created_by" in meta and not isinstance(meta["created_by"], str):
        raise bad("created_by", f"must be text (got {meta['created_by']!r})")
    deps = meta.get("depends_on", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) and ID_RE.match(d) for d in deps):
        raise bad("depends_on", f"must be a list of task ids (got {deps!r})")
    if len(set(deps)) != len(deps):
        raise bad("depends_on", f"lists a task twice (got {deps!r})")
    parent = meta.get("parent")
    if parent is not None and (not isinstance(parent, str) or not ID_RE.match(parent)):
        raise bad("parent", f"must be a task id (got {parent!r})")
    if not _is_time(meta.get("created")):
        raise bad("created", f"must be an ISO 8601 time (got {meta.get('created')!r})")
    if "updated" in meta and not _is_time(meta["updated"]):
        raise bad("updated", f"must be an ISO 8601 time (got {meta['updated']!r})")
    for key in ("entered", "due", "retry_after", "sla_notified"):
        if meta.get(key) is not None and not _is_time(meta[key]):
            raise bad(key, f"must be an ISO 8601 time (got {meta[key]!r})")
    for key in ("attempts", "fence"):
        value = meta.get(key, 0)
        if not _is_int(value) or value < 0:
            raise bad(key, f"must be a whole number >= 0 (got {value!r})")
    value = meta.get("max_attempts")
    if value is not None and (not _is_int(value) or value < 1):
        raise bad("max_attempts", f"must be a whole number >= 1 (got {value!r})")
    labels = meta.get("labels", [])
    if not isinstance(labels, list) or not all(
        isinstance(x, str) and LABEL_RE.match(x) for x in labels
    ):
        raise bad("labels", f"must be a list of short labels without commas (got {labels!r})")
    _validate_mappings(meta, bad)


def _validate_mappings(meta: dict[str, Any], bad: Any) -> None:
    routing = meta.get("routing")
    if routing is not None:
        if not isinstance(routing, dict):
            raise bad("routing", f"must be a mapping with role, agent, tags (got {routing!r})")
        for key in ("role", "agent"):
            if routing.get(key) is not None and not isinstance(routing[key], str):
                raise bad(f"routing.{key}", f"must be text (got {routing[key]!r})")
        tags = routing.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad("routing.tags", f"must be a list of text (got {tags!r})")
    for field in ("budget", "spent"):  # what a task may spend, and what its runs spent
        amounts = meta.get(field)
        if amounts is None:
            continue
        if not isinstance(amounts, dict):
            raise bad(field, f"must be a mapping with usd, tokens, wall_s (got {amounts!r})")
        for key, value in amounts.items():
            if key not in ("usd", "tokens", "wall_s"):
                raise bad(f"{field}.{key}", "is not a budget kind (usd, tokens, wall_s)")
            number = (
                _is_int(value)
                if key == "tokens"
                else (isinstance(value, int | float) and not isinstance(value, bool))
            )
            if not number or value < 0:
                raise bad(f"{field}.{key}", f"must be a number >= 0 (got {value!r})")
    lease = meta.get("lease")
    if lease is not None:
        if not isinstance(lease, dict):
            raise bad("lease", f"must be a mapping (got {lease!r})")
        secret = "token_sha256" if "token_sha256" in lease else "token"  # token: older files
        for key in ("holder", secret):
            if not isinstance(lease.get(key), str) or not lease[key]:
                raise bad(f"lease.{key}", f"is required text (got {lease.get(key)!r})")
        for key in ("acquired", "expires"):
            if not _is_time(lease.get(key)):
                raise bad(f"lease.{key}", f"must be an ISO 8601 time (got {lease.get(key)!r})")
    for key in ("gate", "blocked"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise bad(key, f"must be a mapping (got {meta[key]!r})")
    if meta.get("issue") is not None:
        from .forges import issue_problem

        problem = issue_problem(meta["issue"])
        if problem is not None:
            raise bad(*problem)
    if meta.get("sla") is not None:
        from .sla import sla_problem

        problem = sla_problem(meta["sla"])
        if problem is not None:
            raise bad(*problem)


def rejections(meta: dict[str, Any]) -> int:
    """How many times reviewers sent this task's work back (``gate.history``)."""
    gate = meta.get("gate")
    history = gate.get("history") if isinstance(gate, dict) else None
    if not isinstance(history, list):
        return 0
    return sum(1 for h in history if isinstance(h, dict) and h.get("outcome") == "rejected")


def failed_attempts(meta: dict[str, Any]) -> int:
    """The attempts that count against ``max_attempts``: every claim, less the ones whose work
    reached review and was sent back (rejections have their own cap, ``max_rejections``)."""
    attempts = meta.get("attempts") or 0
    return max(int(attempts) - rejections(meta), 0) if _is_int(attempts) else 0


def check_ref(ref: str) -> str:
    """Normalise a user-typed task id or prefix; refuse anything that could name a path."""
    text = ref.strip().lower()
    if not REF_RE.match(text):
        raise ValidationError(
            f"task id {ref!r}: ids are 't-' followed by letters and digits "
            f"({ALPHABET}); no '/', '..' or spaces"
        )
    return text if text.startswith("t-") else "t-" + text


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a lease token: what a task file keeps of it."""
    import hashlib

    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def lease_matches(lease: dict[str, Any] | None, token: str) -> bool:
    """Whether ``token`` is the secret of ``lease`` (compared in constant time). A lease
    written by an older aof keeps the plain ``token``; it still verifies."""
    import hmac

    if not lease:
        return False
    stored = lease.get("token_sha256")
    if isinstance(stored, str):
        return hmac.compare_digest(token_sha256(token), stored)
    plain = lease.get("token")
    return isinstance(plain, str) and hmac.compare_digest(token.encode(), plain.encode())


def seal_lease(meta: dict[str, Any]) -> None:
    """Replace a plain lease token in ``meta`` by its hash (before ``meta`` is written)."""
    lease = meta.get("lease")
    if isinstance(lease, dict) and isinstance(lease.get("token"), str):
        plain = lease.pop("token")
        sealed = {k: lease[k] for k in ("holder",) if k in lease}
        sealed["token_sha256"] = lease.get("token_sha256") or token_sha256(plain)
        sealed.update({k: v for k, v in lease.items() if k not in sealed})
        meta["lease"] = sealed
