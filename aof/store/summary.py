"""What a listing keeps of a task: the fields it shows and filters on (one summary per task
file, cached by :class:`aof.store.tasks.TaskStore`); the row of a file that is not a valid
task; and the check that makes a file a valid task."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..files import cardfile
from ..model.forges import issue_key
from ..model.task import State, id_from_filename, rejections

# Where a person may drop a hand-written task (a title is enough) for aof to adopt.
ADOPTED_IN = (State.BACKLOG, State.READY)
ADOPT_HINT = (
    "; a hand-written task here needs `title:` in its frontmatter or a `# Title` first line, "
    "and is then adopted by the daemon's next sweep or `aof doctor --fix`"
)


def name_problem(rel: str, state: State) -> str:
    """The problem of a file in ``tasks/<state>/`` whose name is not a task file name."""
    hint = ADOPT_HINT if state in ADOPTED_IN else ""
    return f"{rel}:1: (file name): not a task file name (t-<id>-<slug>.md){hint}"


def summarize(meta: dict[str, Any]) -> dict[str, Any]:
    """The fields a listing shows and filters on (what the cache keeps per file)."""
    lease = meta.get("lease") if isinstance(meta.get("lease"), dict) else None
    return {
        "id": meta.get("id"),
        "title": meta.get("title"),
        "priority": meta.get("priority") or "normal",
        "team": meta.get("team"),
        "project": meta.get("project"),
        "labels": list(meta.get("labels") or []),
        "depends_on": list(meta.get("depends_on") or []),
        "parent": meta.get("parent"),
        "holder": lease.get("holder") if lease else None,
        "fence": meta.get("fence"),
        "expires": lease.get("expires") if lease else None,
        "acquired": lease.get("acquired") if lease else None,
        "created": meta.get("created"),
        "updated": meta.get("updated"),
        "entered": meta.get("entered"),
        "due": meta.get("due"),
        "attempts": meta.get("attempts", 0),
        "max_attempts": meta.get("max_attempts"),
        "rejections": rejections(meta),
        "retry_after": meta.get("retry_after"),
        "routing": meta.get("routing"),
        "sla": meta.get("sla"),
        "sla_notified": meta.get("sla_notified"),
        "coder": meta.get("coder"),
        "branch": meta.get("branch"),
        "batch": meta.get("batch"),
        "gate": _gate_summary(meta.get("gate")),
        "issue": issue_key(meta.get("issue")),
    }


def _gate_summary(gate: Any) -> dict[str, Any] | None:
    """Where a task stands in its workflow and its last gate result, without the history
    (what the planner and the board need)."""
    if not isinstance(gate, dict):
        return None
    keys: tuple[str, ...] = ("current", "kind", "role", "agent", "capabilities", "merge")
    keys += ("approvals", "round", "worker", "notified")
    out = {k: gate[k] for k in keys if gate.get(k) is not None}
    pr = gate.get("pr")
    if isinstance(pr, dict) and pr.get("number"):
        out["pr"] = {k: pr.get(k) for k in ("repo", "number", "url") if pr.get(k) is not None}
    history = gate.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        last = history[-1]
        out["last"] = {k: last.get(k) for k in ("gate", "outcome", "sha") if last.get(k)}
    return out or None


def invalid_row(state: State, rel: str, tid: str | None, reason: str) -> dict[str, Any]:
    """A listing row for a file in ``tasks/<state>/`` that is not a valid task: the fields of
    a row (null), its id when the file name has one, state, path, ``invalid`` and ``reason``."""
    row: dict[str, Any] = {key: None for key in summarize({})}
    row.update(
        id=tid or id_from_filename(rel.rsplit("/", 1)[-1]),
        labels=[],
        depends_on=[],
        attempts=None,
        priority=None,
        state=state.value,
        path=rel,
        invalid=True,
        reason=reason,
    )
    return row


def check_card(card: cardfile.Card, rel: str, tid: str) -> None:
    """ValidationError unless ``card`` is a valid task whose id matches its file name's."""
    from ..model.task import validate

    validate(card.meta, rel, card)
    if card.meta.get("id") != tid:
        raise ValidationError(
            f"{rel}:{card.line_of('id')}: id: {card.meta.get('id')!r} does not match the "
            f"file name's id {tid!r}"
        )
