"""A fleet root whose project ships through a fake GitHub: a bare repository as the remote,
the project's repository cloned from it, a workflow that ends at a pr gate."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import Cli, git
from .support.fakegithub import TOKEN, FakeGitHub, make_bare

REPO = "acme/api"
GIT_ID = ("-c", "user.name=t", "-c", "user.email=t@t")


def shipping_fleet(
    run: Cli,
    root: Path,
    tmp_path: Path,
    fake: FakeGitHub,
    *,
    gates: str = "  - name: tests\n    run: 'true'\n  - pr: {merge: auto, approvals: 1}\n",
    extra: str = "",
) -> tuple[Path, Path]:
    """(the bare remote, the project's clone); the project is ``api`` with workflow
    ``shipped``, the demo coder is the default, the forge is ``fake``."""
    bare = make_bare(tmp_path / "remote.git", {"README.md": "# api\n"})
    fake.add_repo(REPO, bare)
    clone = tmp_path / "api"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    text = (root / "aof.yaml").read_text()
    text = text.replace("\ndefaults:\n", "\ndefaults:\n  coder: demo\n", 1)
    text += (
        "coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: '0.1'}\n"
        f"forges:\n  github:\n    api_url: {fake.url}\n    poll_s: 0.2\n" + extra
    )
    (root / "aof.yaml").write_text(text)
    (root / "workflows" / "shipped.yaml").write_text("gates:\n" + gates)
    git(root, *GIT_ID, "add", "-A")
    git(root, *GIT_ID, "commit", "-qm", "ship through the fake forge")
    run(
        "team",
        "create",
        "--slug",
        "core",
        "--name",
        "Core",
        "--mission",
        "m",
        "--ownership",
        "company",
    )
    run(
        "project",
        "create",
        "--team",
        "core",
        "--slug",
        "api",
        "--root-path",
        str(clone),
        "--remote-url",
        str(bare),
        "--repo",
        REPO,
        "--workflow",
        "shipped",
    )
    return bare, clone


def env_with_token() -> dict[str, str]:
    import os

    return {**os.environ, "GITHUB_TOKEN": TOKEN}
