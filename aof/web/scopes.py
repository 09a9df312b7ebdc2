"""What a scoped token of the remote API may reach (docs/security.md, "Tokens of the
remote API").

A **run token** opens its own task's lease verbs (``GET /api/tasks/<task>`` and ``POST
/api/tasks/<task>/{heartbeat,progress,block,complete,fail,release}``) and its own run's
uploads (``POST /api/runs/<run>/{log,status}``). A **worker token** opens its host's
heartbeat (``POST /api/hosts/<host>/heartbeat``) and the uploads of runs placed on its host
(the endpoint checks the run's host). Anything else is refused with 403 before a handler
runs; a serve token (a person's) has no scope and reaches everything.
"""

from __future__ import annotations

from typing import Any

RUN_VERBS = ("heartbeat", "progress", "block", "complete", "fail", "release")
UPLOADS = ("log", "status")


def refusal(scope: dict[str, Any], method: str, path: str) -> str | None:
    """Why ``scope`` may not make this request, or None when it may."""
    parts = [p for p in path.split("/") if p]
    if scope.get("kind") == "run":
        return _run_refusal(str(scope.get("task")), str(scope.get("run")), method, parts)
    if scope.get("kind") == "worker":
        host = str(scope.get("host"))
        if parts[:2] == ["api", "hosts"] and len(parts) == 4 and parts[3] == "heartbeat":
            if method == "POST" and parts[2] == host:
                return None
            return f"this token is for host {host}"
        if _is_upload(parts, method):
            return None  # the endpoint checks that the run is this host's
        return f"this token is for host {host}: its heartbeat and its runs' uploads only"
    return "this token has no known scope"


def _run_refusal(task: str, run: str, method: str, parts: list[str]) -> str | None:
    if parts[:2] == ["api", "tasks"] and len(parts) >= 3:
        if _task_ref(parts[2]) != task:
            return f"this token is for task {task}"
        if len(parts) == 3 and method in ("GET", "HEAD"):
            return None
        if len(parts) == 4 and method == "POST" and parts[3] in RUN_VERBS:
            return None
        return f"this token is for task {task}: {', '.join(RUN_VERBS)} and show only"
    if _is_upload(parts, method):
        return None if parts[2] == run else f"this token is for run {run}"
    return f"this token is for task {task}: {', '.join(RUN_VERBS)} and show only"


def _is_upload(parts: list[str], method: str) -> bool:
    return (method == "POST" and parts[:2] == ["api", "runs"] and len(parts) == 4) and parts[
        3
    ] in UPLOADS


def _task_ref(ref: str) -> str:
    text = ref.strip().lower()
    return text if text.startswith("t-") else f"t-{text}"
