"""The history of one task: its audit records and the git commits that touched its file.

A task that no longer exists (deleted by hand, or its file moved out of the root) keeps its
history: the id is then checked as an id and looked up in the audit trail alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..model.task import check_ref

if TYPE_CHECKING:
    from ..store.context import FleetContext


def history(fleet: FleetContext, ref: str) -> dict[str, Any]:
    """``{"id", "records", "commits"}`` of the task ``ref`` (an id or unique prefix): its
    audit records, oldest first, and its commits, newest first. NotFound when the id has
    neither a task nor an audit record."""
    try:
        tid = fleet.tasks.locate(ref).id
    except NotFound:
        tid = check_ref(ref)  # a task that no longer exists still has its history
    recs = fleet.audit.query(task=tid)
    recs = [r for r in recs if (r.get("entity") or {}).get("id") == tid]
    if not recs:
        raise NotFound(f"no task or audit records for {tid!r}")
    # tasks/<state>/<file>, and tasks/<done|cancelled>/YYYY-MM/<file>
    specs = [f":(glob)tasks/{d}{tid}{end}" for d in ("*/", "*/*/") for end in ("-*", ".md")]
    commits = fleet.git.log(specs)
    return {"id": tid, "records": recs, "commits": commits}
