"""What the files say about code hosts: a repository's ``owner/name``, a task's ``issue``
link, and aof.yaml's ``forges`` section (docs/forge.md).

Validation only: talking to a forge is :mod:`aof.forge`'s business.
"""

from __future__ import annotations

import re
from typing import Any

# GitHub's rules: an owner is 1-39 letters, digits and single inner dashes; a repository
# name is 1-100 of letters, digits, '.', '_' and '-', but not '.' or '..'. The pattern is
# written so that JSON Schema (ECMA-262) and Python's re read it the same way.
END = r"(?![\s\S])"
REPO_PATTERN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?" + END + r")[A-Za-z0-9._-]{1,100}" + END
)
REPO_RE = re.compile(REPO_PATTERN)

FORGES = ("github",)
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_POLL_S = 60
URL_PATTERN = r"^https?://[^\s/?#]+(?:/[^\s?#]*)?" + END
URL_RE = re.compile(URL_PATTERN)


def _whole(value: Any) -> bool:
    """A whole number as JSON Schema counts them: 3 and 3.0, never True."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_repo(value: Any) -> bool:
    """Whether ``value`` is ``owner/name`` text."""
    return isinstance(value, str) and REPO_RE.match(value) is not None


def issue_problem(value: Any) -> tuple[str, str] | None:
    """(field, problem) for a task's ``issue`` that is not a link to an issue, else None.

    The shape: ``{forge: github, repo: owner/name, number: N, url: URL}`` (url optional).
    """
    if not isinstance(value, dict):
        return "issue", f"must be a mapping with forge, repo, number, url (got {value!r})"
    forge = value.get("forge")
    if forge not in FORGES:
        return "issue.forge", f"must be one of {', '.join(FORGES)} (got {forge!r})"
    if not is_repo(value.get("repo")):
        return "issue.repo", f"must be 'owner/name' (got {value.get('repo')!r})"
    number: Any = value.get("number")
    if not _whole(number) or number < 1:
        return "issue.number", f"must be a whole number >= 1 (got {number!r})"
    url = value.get("url")
    if url is not None and not (isinstance(url, str) and URL_RE.match(url)):
        return "issue.url", f"must be an http(s) URL (got {url!r})"
    return None


def issue_key(value: Any) -> str | None:
    """``owner/name#N`` for a task's ``issue`` (what listings show and look up), else None."""
    if isinstance(value, dict) and is_repo(value.get("repo")):
        number: Any = value.get("number")
        if _whole(number):
            return f"{value['repo']}#{int(number)}"
    return None


def validate_forges(section: Any, bad: Any) -> None:
    """ValidationError (made by ``bad(key, message)``) for anything wrong in ``forges``."""
    if not isinstance(section, dict):
        raise bad("forges", f"must be a mapping of forge to settings (got {section!r})")
    for name, conf in section.items():
        if name not in FORGES:
            raise bad(f"forges.{name}", f"unknown forge (forges: {', '.join(FORGES)})")
        if not isinstance(conf, dict):
            raise bad(f"forges.{name}", f"must be a mapping (got {conf!r})")
        url = conf.get("api_url", DEFAULT_API_URL)
        if not isinstance(url, str) or not URL_RE.match(url):
            raise bad(
                f"forges.{name}.api_url",
                f"must be an http(s) URL like {DEFAULT_API_URL} or https://HOST/api/v3 "
                f"(got {url!r})",
            )
        poll = conf.get("poll_s", DEFAULT_POLL_S)
        if isinstance(poll, bool) or not isinstance(poll, int | float) or poll <= 0:
            raise bad(f"forges.{name}.poll_s", f"must be a number > 0 (got {poll!r})")
