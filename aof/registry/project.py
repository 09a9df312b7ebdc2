"""Projects: ``projects/<slug>.md``. A repository (or workspace) a team works on."""

from __future__ import annotations

from typing import Any

from ..model.forges import REPO_PATTERN, is_repo
from .spec import Field, Noun, boolean, budget, slug, text, text_list


def repo_name(value: Any) -> str | None:
    """The project's repository on its forge: ``owner/name``."""
    return None if is_repo(value) else "must be 'owner/name', like acme/site"


repo_name.json = {"type": "string", "pattern": REPO_PATTERN}  # type: ignore[attr-defined]

PROJECT = Noun(
    name="project",
    dir="projects",
    fields=(
        Field("team", slug, required=True, ref="team", help="the owning team's slug"),
        Field("root_path", text, required=True, help="the repository's directory"),
        Field("default_branch", text, default="main"),
        Field("remote_url", text),
        Field(
            "repo",
            repo_name,
            help="its repository on GitHub, owner/name (default: read from remote_url)",
        ),
        Field("enabled", boolean, default=True),
        Field("host", slug, ref="host"),
        Field("ao_project_root", text),
        Field("coder", text),
        Field("model", text),
        Field("workflow", slug, help="the workflow of its tasks (workflows/<name>.yaml)"),
        Field("setup", text_list),
        Field("credential_files", text_list),
        Field(
            "import_labels",
            text_list,
            help="the daemon imports its repository's open issues with every one of these "
            "labels, into backlog, once a poll interval (none: only `aof issues import`)",
        ),
        Field(
            "budget",
            budget,
            help="monthly budget, {usd_month: N}: over it, no new work is dispatched to it "
            "until the next month (docs/cost.md)",
        ),
    ),
)
