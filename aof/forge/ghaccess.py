"""Who aof is on GitHub and which repository a project is: the token (from the environment
or the GitHub CLI, never from a file aof writes) and ``owner/name`` from a project."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..model.forges import is_repo
from .base import NoToken

NO_TOKEN = (
    "no GitHub token: set GITHUB_TOKEN or GH_TOKEN, or log in with `gh auth login` "
    "(looked at GITHUB_TOKEN, GH_TOKEN, gh auth token)"
)


def resolve_token(env: Mapping[str, str] | None = None, host: str | None = None) -> str:
    """``GITHUB_TOKEN``, else ``GH_TOKEN``, else what ``gh auth token`` prints (when ``gh`` is
    on PATH; ``--hostname`` for a GitHub Enterprise ``host``), else :class:`NoToken`."""
    import shutil
    import subprocess

    env = os.environ if env is None else env
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        value = (env.get(name) or "").strip()
        if value:
            return value
    gh = shutil.which("gh", path=env.get("PATH"))
    if gh:
        argv = [gh, "auth", "token"]
        if host and host not in ("github.com", "api.github.com"):
            argv += ["--hostname", host]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=15, env=dict(env), check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        token = proc.stdout.strip() if proc is not None and proc.returncode == 0 else ""
        if token and "\n" not in token:
            return token
    raise NoToken(NO_TOKEN)


_REMOTE = (
    # https://github.com/o/r(.git), ssh://git@github.com(:22)/o/r(.git), git://...
    re.compile(r"(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/([^/]+)/([^/]+?)(?:\.git)?/?"),
    # git@github.com:o/r(.git)
    re.compile(r"(?:[^@/:]+@)?([^/:]+):([^/]+)/([^/]+?)(?:\.git)?/?"),
)


def repo_of(project: Mapping[str, Any], api_url: str | None = None) -> str | None:
    """A project's GitHub repository, ``owner/name``: its ``repo`` field, else read from its
    ``remote_url`` when that is a GitHub URL (github.com, or the host of ``api_url``)."""
    repo = project.get("repo")
    if is_repo(repo):
        return str(repo)
    url = project.get("remote_url")
    if not isinstance(url, str):
        return None
    hosts = {"github.com", "www.github.com"}
    if api_url:
        from urllib.parse import urlsplit

        host = urlsplit(api_url).hostname
        if host and host != "api.github.com":
            hosts.add(host.lower())
    for pattern in _REMOTE:
        m = pattern.fullmatch(url.strip())
        if m and m.group(1).lower() in hosts:
            name = f"{m.group(2)}/{m.group(3)}"
            return name if is_repo(name) else None
    return None
