"""The JSON shapes of GitHub's REST answers, as the fake GitHub (:mod:`.fakegithub`) serves
them: complete enough that githubkit's typed models (``githubkit_schemas``) parse every one,
field names and nesting as in GitHub's REST reference (pulls, checks, branches, issues)."""

from __future__ import annotations

from typing import Any

# The URL templates a repository object carries (all required by the Repository schema).
_REPO_URLS = [
    "archive_url",
    "assignees_url",
    "blobs_url",
    "branches_url",
    "collaborators_url",
    "comments_url",
    "commits_url",
    "compare_url",
    "contents_url",
    "contributors_url",
    "deployments_url",
    "downloads_url",
    "events_url",
    "forks_url",
    "git_commits_url",
    "git_refs_url",
    "git_tags_url",
    "issue_comment_url",
    "issue_events_url",
    "issues_url",
    "keys_url",
    "labels_url",
    "languages_url",
    "merges_url",
    "milestones_url",
    "notifications_url",
    "pulls_url",
    "releases_url",
    "stargazers_url",
    "statuses_url",
    "subscribers_url",
    "subscription_url",
    "tags_url",
    "teams_url",
    "trees_url",
    "hooks_url",
]

_USER_URLS = [
    "followers_url",
    "following_url",
    "gists_url",
    "starred_url",
    "subscriptions_url",
    "organizations_url",
    "repos_url",
    "events_url",
    "received_events_url",
]


def user(api: str, login: str, uid: int) -> dict[str, Any]:
    """A simple-user object."""
    out: dict[str, Any] = {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"{api}/avatars/{login}",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{api}/{login}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
        "user_view_type": "public",
    }
    for key in _USER_URLS:
        out[key] = f"{api}/users/{login}/{key[: -len('_url')]}"
    return out


def repository(api: str, full_name: str, rid: int, default_branch: str) -> dict[str, Any]:
    """A repository object (as nested in a pull request's head and base)."""
    owner, name = full_name.split("/")
    url = f"{api}/repos/{full_name}"
    out: dict[str, Any] = {
        "id": rid,
        "node_id": f"R_{rid}",
        "name": name,
        "full_name": full_name,
        "license": None,
        "forks": 0,
        "owner": user(api, owner, rid + 100000),
        "private": True,
        "html_url": f"{api}/{full_name}",
        "description": None,
        "fork": False,
        "url": url,
        "git_url": f"git://example.invalid/{full_name}.git",
        "ssh_url": f"git@example.invalid:{full_name}.git",
        "clone_url": f"{api}/{full_name}.git",
        "svn_url": f"{api}/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 1,
        "default_branch": default_branch,
        "open_issues_count": 0,
        "has_pages": False,
        "disabled": False,
        "archived": False,
        "visibility": "private",
        "pushed_at": "2026-01-01T00:00:00Z",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "open_issues": 0,
        "watchers": 0,
    }
    for key in _REPO_URLS:
        out[key] = f"{url}/{key[: -len('_url')]}"
    return out


def label(api: str, full_name: str, name: str, lid: int) -> dict[str, Any]:
    return {
        "id": lid,
        "node_id": f"LA_{lid}",
        "url": f"{api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": None,
        "color": "ededed",
        "default": False,
    }


def _link(href: str) -> dict[str, str]:
    return {"href": href}


def pull_request(
    api: str, repo: dict[str, Any], pr: Any, head_sha: str, base_sha: str, mergeable: str
) -> dict[str, Any]:
    """A pull-request object (``GET /pulls/{n}``; the list endpoint uses the same fields)."""
    full = repo["full_name"]
    url = f"{api}/repos/{full}/pulls/{pr.number}"
    issue_url = f"{api}/repos/{full}/issues/{pr.number}"
    owner = repo["owner"]
    author = user(api, pr.user, 7)
    return {
        "url": url,
        "id": 5000 + pr.number,
        "node_id": f"PR_{pr.number}",
        "html_url": f"{api}/{full}/pull/{pr.number}",
        "diff_url": f"{api}/{full}/pull/{pr.number}.diff",
        "patch_url": f"{api}/{full}/pull/{pr.number}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/repos/{full}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{api}/repos/{full}/statuses/{head_sha}",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": author,
        "body": pr.body or None,
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": f"{owner['login']}:{pr.head}",
            "ref": pr.head,
            "sha": head_sha,
            "repo": repo,
            "user": owner,
        },
        "base": {
            "label": f"{owner['login']}:{pr.base}",
            "ref": pr.base,
            "sha": base_sha,
            "repo": repo,
            "user": owner,
        },
        "_links": {
            "self": _link(url),
            "html": _link(f"{api}/{full}/pull/{pr.number}"),
            "issue": _link(issue_url),
            "comments": _link(f"{issue_url}/comments"),
            "review_comments": _link(f"{url}/comments"),
            "review_comment": _link(f"{api}/repos/{full}/pulls/comments{{/number}}"),
            "commits": _link(f"{url}/commits"),
            "statuses": _link(f"{api}/repos/{full}/statuses/{head_sha}"),
        },
        "author_association": "MEMBER",
        "auto_merge": None,
        "draft": pr.draft,
        "merged": pr.merged,
        "mergeable": None if pr.merged or pr.state == "closed" else mergeable != "dirty",
        "rebaseable": None,
        "mergeable_state": mergeable,
        "merged_by": author if pr.merged else None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
    }


def check_run(api: str, full: str, run: Any, app_owner: dict[str, Any]) -> dict[str, Any]:
    """A check-run object (``GET /commits/{sha}/check-runs`` lists them)."""
    url = f"{api}/repos/{full}/check-runs/{run.id}"
    actions = run.log is not None
    page = f"{api}/{full}/actions/runs/{run.id + 90000}/job/{run.id}"
    return {
        "id": run.id,
        "head_sha": run.sha,
        "node_id": f"CR_{run.id}",
        "external_id": str(run.id),
        "url": url,
        "html_url": run.html_url or page,
        "details_url": run.html_url or page,
        "status": run.status,
        "conclusion": run.conclusion if run.status == "completed" else None,
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:05:00Z" if run.status == "completed" else None,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": len(run.annotations),
            "annotations_url": f"{url}/annotations",
        },
        "name": run.name,
        "check_suite": {"id": run.id + 70000},
        "app": {
            "id": 15368 if actions else 999,
            "slug": "github-actions" if actions else "external-ci",
            "node_id": "A_1",
            "owner": app_owner,
            "name": "GitHub Actions" if actions else "External CI",
            "description": None,
            "external_url": "https://github.com/features/actions",
            "html_url": "https://github.com/apps/github-actions",
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2024-04-10T20:33:16Z",
            "permissions": {"checks": "write", "contents": "write"},
            "events": ["check_run"],
        },
        "pull_requests": [],
    }


def annotation(api: str, full: str, sha: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": item["path"],
        "start_line": item.get("line", 1),
        "end_line": item.get("line", 1),
        "start_column": None,
        "end_column": None,
        "annotation_level": item.get("level", "failure"),
        "title": item.get("title"),
        "message": item["message"],
        "raw_details": None,
        "blob_href": f"{api}/{full}/blob/{sha}/{item['path']}",
    }


def branch(api: str, full: str, name: str, sha: str, parents: list[str]) -> dict[str, Any]:
    """A branch-with-protection object (``GET /branches/{branch}``)."""
    url = f"{api}/repos/{full}/commits/{sha}"
    return {
        "name": name,
        "commit": {
            "url": url,
            "sha": sha,
            "node_id": f"C_{sha[:8]}",
            "html_url": f"{api}/{full}/commit/{sha}",
            "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{api}/repos/{full}/git/commits/{sha}",
                "author": None,
                "committer": None,
                "message": "commit",
                "comment_count": 0,
                "tree": {"sha": "0" * 40, "url": f"{api}/repos/{full}/git/trees/{'0' * 40}"},
            },
            "author": None,
            "committer": None,
            "parents": [{"sha": p, "url": f"{api}/repos/{full}/commits/{p}"} for p in parents],
        },
        "_links": {
            "html": f"{api}/{full}/tree/{name}",
            "self": f"{api}/repos/{full}/branches/{name}",
        },
        "protected": False,
        "protection": {"enabled": False},
        "protection_url": f"{api}/repos/{full}/branches/{name}/protection",
    }


def review(api: str, full: str, number: int, item: Any, author: dict[str, Any]) -> dict[str, Any]:
    pr_url = f"{api}/repos/{full}/pulls/{number}"
    html = f"{api}/{full}/pull/{number}#pullrequestreview-{item.id}"
    return {
        "id": item.id,
        "node_id": f"PRR_{item.id}",
        "user": author,
        "body": item.body,
        "state": item.state,
        "html_url": html,
        "pull_request_url": pr_url,
        "_links": {"html": _link(html), "pull_request": _link(pr_url)},
        "submitted_at": item.submitted_at,
        "commit_id": item.commit_id,
        "author_association": "MEMBER",
    }


def review_comment(
    api: str, full: str, number: int, item: Any, author: dict[str, Any]
) -> dict[str, Any]:
    url = f"{api}/repos/{full}/pulls/comments/{item.id}"
    pr_url = f"{api}/repos/{full}/pulls/{number}"
    html = f"{api}/{full}/pull/{number}#discussion_r{item.id}"
    return {
        "url": url,
        "pull_request_review_id": item.review_id,
        "id": item.id,
        "node_id": f"PRRC_{item.id}",
        "diff_hunk": "@@ -1,1 +1,1 @@",
        "path": item.path,
        "position": item.line,
        "original_position": item.line,
        "commit_id": item.commit_id,
        "original_commit_id": item.commit_id,
        "user": author,
        "body": item.body,
        "created_at": item.created_at,
        "updated_at": item.created_at,
        "html_url": html,
        "pull_request_url": pr_url,
        "author_association": "MEMBER",
        "_links": {"self": _link(url), "html": _link(html), "pull_request": _link(pr_url)},
        "line": item.line,
        "original_line": item.line,
        "side": "RIGHT",
        "subject_type": "line",
    }


def issue(
    api: str, full: str, item: Any, author: dict[str, Any], labels: list[Any]
) -> dict[str, Any]:
    """An issue object; a pull request listed as an issue carries ``pull_request``."""
    url = f"{api}/repos/{full}/issues/{item.number}"
    out: dict[str, Any] = {
        "id": 8000 + item.number,
        "node_id": f"I_{item.number}",
        "url": url,
        "repository_url": f"{api}/repos/{full}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{api}/{full}/{'pull' if item.is_pr else 'issues'}/{item.number}",
        "number": item.number,
        "state": item.state,
        "state_reason": "completed" if item.state == "closed" else None,
        "title": item.title,
        "body": item.body or None,
        "user": author,
        "labels": labels,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": item.closed_at,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "author_association": "MEMBER",
    }
    if item.is_pr:
        pr_url = f"{api}/repos/{full}/pulls/{item.number}"
        out["pull_request"] = {
            "url": pr_url,
            "html_url": out["html_url"],
            "diff_url": f"{out['html_url']}.diff",
            "patch_url": f"{out['html_url']}.patch",
            "merged_at": None,
        }
    return out


def error(message: str, status: int, **extra: Any) -> dict[str, Any]:
    return {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
        **extra,
    }
