"""The fake GitHub's endpoints (:mod:`.fakegithub`): one function per route, over its state.

Each returns ``(status, json data or None, extra headers)`` or raises ``_Answer``; the server
adds ETags, 304s and the rate-limit headers.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from . import ghpayloads as P
from .fakegithub import CLOSES, FakeGitHub, Pull, Repo, _Answer, _not_found, git, rev

Result = tuple[int, Any, dict[str, str]]


def route(fake: FakeGitHub, method: str, path: str, q: dict[str, list[str]], data: Any) -> Result:
    m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
    if not m:
        raise _not_found()
    repo = fake.repos.get(f"{m.group(1)}/{m.group(2)}")
    if repo is None:
        raise _not_found()
    rest = m.group(3) or ""
    for pattern, verb, handler in ROUTES:
        hit = re.fullmatch(pattern, rest)
        if hit and verb == method:
            return handler(fake, repo, q, data, *hit.groups())  # type: ignore[no-any-return]
    raise _not_found()


def _one(q: dict[str, list[str]], key: str, default: str | None = None) -> str | None:
    return q.get(key, [default])[0]


def _page(
    fake: FakeGitHub, repo: Repo, items: list[Any], q: dict[str, list[str]], path: str
) -> tuple[list[Any], dict[str, str]]:
    per = min(int(_one(q, "per_page", "30") or 30), 100)
    page = max(int(_one(q, "page", "1") or 1), 1)
    chunk = items[(page - 1) * per : page * per]
    headers = {}
    if page * per < len(items):
        query = "&".join(f"{k}={v[0]}" for k, v in q.items() if k != "page")
        headers["Link"] = (
            f'<{fake.url}/repos/{repo.full_name}{path}?{query}&page={page + 1}>; rel="next"'
        )
    return chunk, headers


def _repo_json(fake: FakeGitHub, repo: Repo) -> dict[str, Any]:
    return P.repository(fake.url, repo.full_name, repo.id, repo.default_branch)


def get_repo(fake: FakeGitHub, repo: Repo, q: Any, data: Any) -> Result:
    return 200, _repo_json(fake, repo), {}


# --- pull requests ------------------------------------------------------------------------


def _shas(repo: Repo, pr: Pull) -> tuple[str, str]:
    head = rev(repo.bare, pr.head) or pr.last_head or "0" * 40
    pr.last_head = head  # kept for when the branch is deleted
    base = rev(repo.bare, pr.base) or "0" * 40
    return head, base


def _merged_tree(repo: Repo, base: str, head: str) -> str | None:
    """The tree of ``head`` merged into ``base``, or None when they conflict."""
    proc = subprocess.run(
        ["git", "merge-tree", "--write-tree", base, head],
        cwd=repo.bare,
        capture_output=True,
        text=True,
    )
    return proc.stdout.split("\n", 1)[0].strip() if proc.returncode == 0 else None


def _conflicts(repo: Repo, base: str, head: str) -> bool:
    return _merged_tree(repo, base, head) is None


def _mergeable(fake: FakeGitHub, repo: Repo, pr: Pull, head: str, base: str) -> str:
    if pr.mergeable_state:
        return pr.mergeable_state
    if pr.state != "open":
        return "unknown"
    if pr.draft:
        return "draft"
    if _conflicts(repo, base, head):
        return "dirty"
    runs = [c for c in fake.checks.values() if c.repo == repo.full_name and c.sha == head]
    if any(
        c.status != "completed" or c.conclusion not in ("success", "neutral", "skipped")
        for c in runs
    ):
        return "unstable"
    return "clean"


def pull_json(fake: FakeGitHub, repo: Repo, pr: Pull) -> dict[str, Any]:
    head, base = _shas(repo, pr)
    return P.pull_request(
        fake.url, _repo_json(fake, repo), pr, head, base, _mergeable(fake, repo, pr, head, base)
    )


def list_pulls(fake: FakeGitHub, repo: Repo, q: dict[str, list[str]], data: Any) -> Result:
    state = _one(q, "state", "open")
    head = _one(q, "head")
    items = [
        p
        for p in sorted(repo.pulls.values(), key=lambda p: -p.number)
        if (state == "all" or p.state == state)
        and (head is None or f"{repo.full_name.split('/')[0]}:{p.head}" == head)
    ]
    chunk, headers = _page(fake, repo, items, q, "/pulls")
    return 200, [pull_json(fake, repo, p) for p in chunk], headers


def _invalid(message: str, **error: str) -> _Answer:
    return _Answer(
        422,
        P.error(
            "Validation Failed",
            422,
            errors=[{"resource": "PullRequest", **error, "message": message}],
        ),
    )


def create_pull(fake: FakeGitHub, repo: Repo, q: Any, data: dict[str, Any]) -> Result:
    head = str(data.get("head") or "").split(":")[-1]
    base = str(data.get("base") or "")
    if not head or rev(repo.bare, head) is None:
        raise _invalid(f"head {head!r} does not exist", field="head", code="invalid")
    if not base or rev(repo.bare, base) is None:
        raise _invalid(f"base {base!r} does not exist", field="base", code="invalid")
    owner = repo.full_name.split("/")[0]
    if any(p.head == head and p.base == base and p.state == "open" for p in repo.pulls.values()):
        raise _invalid(f"A pull request already exists for {owner}:{head}.", code="custom")
    head_sha, base_sha = rev(repo.bare, head), rev(repo.bare, base)
    if _is_ancestor(repo, str(head_sha), str(base_sha)):
        raise _invalid(f"No commits between {base} and {head}", code="custom")
    pr = fake._open(repo, head, base, str(data.get("title") or head), str(data.get("body") or ""))
    pr.draft = bool(data.get("draft"))
    return 201, pull_json(fake, repo, pr), {}


def _is_ancestor(repo: Repo, a: str, b: str) -> bool:
    return (
        subprocess.run(
            ["git", "merge-base", "--is-ancestor", a, b], cwd=repo.bare, capture_output=True
        ).returncode
        == 0
    )


def _pull(repo: Repo, number: str) -> Pull:
    pr = repo.pulls.get(int(number))
    if pr is None:
        raise _not_found()
    return pr


def get_pull(fake: FakeGitHub, repo: Repo, q: Any, data: Any, number: str) -> Result:
    return 200, pull_json(fake, repo, _pull(repo, number)), {}


def update_pull(fake: FakeGitHub, repo: Repo, q: Any, data: dict[str, Any], number: str) -> Result:
    pr = _pull(repo, number)
    for key in ("title", "body", "base"):
        if key in data:
            setattr(pr, key, str(data[key] or ""))
    if data.get("state") in ("open", "closed"):
        pr.state = data["state"]
        pr.closed_at = fake._now() if pr.state == "closed" else None
        repo.issues[pr.number].state = pr.state
    pr.updated_at = fake._now()
    issue = repo.issues[pr.number]
    issue.title, issue.body = pr.title, pr.body
    return 200, pull_json(fake, repo, pr), {}


def merge_pull(fake: FakeGitHub, repo: Repo, q: Any, data: dict[str, Any], number: str) -> Result:
    pr = _pull(repo, number)
    if pr.merged or pr.state != "open":
        raise _Answer(405, P.error("Pull Request is not mergeable", 405))
    head, base = _shas(repo, pr)
    if data.get("sha") and data["sha"] != head:
        raise _Answer(
            409, P.error("Head branch was modified. Review and try the merge again.", 409)
        )
    method = data.get("merge_method") or "merge"
    if method not in ("merge", "squash"):
        raise _Answer(
            405, P.error(f"{method.capitalize()} merges are not allowed on this repository.", 405)
        )
    tree = _merged_tree(repo, base, head)
    if tree is None:
        raise _Answer(405, P.error("Pull Request is not mergeable", 405))
    title = data.get("commit_title") or (
        f"Merge pull request #{pr.number} from {repo.full_name.split('/')[0]}/{pr.head}"
        if method == "merge"
        else f"{pr.title} (#{pr.number})"
    )
    message = f"{title}\n\n{data.get('commit_message') or pr.title}\n"
    parents = ["-p", base, "-p", head] if method == "merge" else ["-p", base]
    sha = git(repo.bare, "commit-tree", tree, *parents, "-m", message)
    git(repo.bare, "update-ref", f"refs/heads/{pr.base}", sha, base)
    when = fake._now()
    pr.state, pr.merged, pr.merge_commit_sha = "closed", True, sha
    pr.merged_at = pr.closed_at = pr.updated_at = when
    repo.issues[pr.number].state = "closed"
    if pr.base == repo.default_branch:
        for ref in CLOSES.findall(pr.body or ""):
            item = repo.issues.get(int(ref))
            if item is not None and not item.is_pr and item.state == "open":
                item.state, item.closed_at, item.updated_at = "closed", when, when
    return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}


def list_reviews(
    fake: FakeGitHub, repo: Repo, q: dict[str, list[str]], data: Any, number: str
) -> Result:
    pr = _pull(repo, number)
    chunk, headers = _page(fake, repo, pr.reviews, q, f"/pulls/{number}/reviews")
    full = repo.full_name
    return (
        200,
        [P.review(fake.url, full, pr.number, r, P.user(fake.url, r.user, 9)) for r in chunk],
        headers,
    )


def list_comments(
    fake: FakeGitHub, repo: Repo, q: dict[str, list[str]], data: Any, number: str
) -> Result:
    pr = _pull(repo, number)
    chunk, headers = _page(fake, repo, pr.comments, q, f"/pulls/{number}/comments")
    full = repo.full_name
    rows = [
        P.review_comment(fake.url, full, pr.number, c, P.user(fake.url, c.user, 9)) for c in chunk
    ]
    return 200, rows, headers


# --- checks, logs, branches ---------------------------------------------------------------


def list_check_runs(
    fake: FakeGitHub, repo: Repo, q: dict[str, list[str]], data: Any, ref: str
) -> Result:
    sha = rev(repo.bare, ref) or ref
    runs = [c for c in fake.checks.values() if c.repo == repo.full_name and c.sha == sha]
    chunk, headers = _page(fake, repo, runs, q, f"/commits/{ref}/check-runs")
    owner = P.user(fake.url, "github", 9919)
    rows = [P.check_run(fake.url, repo.full_name, c, owner) for c in chunk]
    return 200, {"total_count": len(runs), "check_runs": rows}, headers


def _run(fake: FakeGitHub, repo: Repo, cid: str) -> Any:
    run = fake.checks.get(int(cid))
    if run is None or run.repo != repo.full_name:
        raise _not_found()
    return run


def list_annotations(fake: FakeGitHub, repo: Repo, q: Any, data: Any, cid: str) -> Result:
    run = _run(fake, repo, cid)
    rows = [P.annotation(fake.url, repo.full_name, run.sha, a) for a in run.annotations]
    return 200, rows, {}


def job_logs(fake: FakeGitHub, repo: Repo, q: Any, data: Any, cid: str) -> Result:
    run = _run(fake, repo, cid)
    if run.log is None:
        raise _not_found()
    return 302, None, {"Location": f"{fake.url}/_logs/{run.id}.txt"}


def get_branch(fake: FakeGitHub, repo: Repo, q: Any, data: Any, name: str) -> Result:
    sha = rev(repo.bare, name)
    if sha is None:
        raise _Answer(404, P.error("Branch not found", 404))
    parents = git(repo.bare, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    return 200, P.branch(fake.url, repo.full_name, name, sha, parents), {}


# --- issues -------------------------------------------------------------------------------


def _issue_json(fake: FakeGitHub, repo: Repo, item: Any) -> dict[str, Any]:
    labels = [P.label(fake.url, repo.full_name, n, 3000 + i) for i, n in enumerate(item.labels)]
    return P.issue(fake.url, repo.full_name, item, P.user(fake.url, item.user, 8), labels)


def list_issues(fake: FakeGitHub, repo: Repo, q: dict[str, list[str]], data: Any) -> Result:
    state = _one(q, "state", "open")
    wanted = [x for x in (_one(q, "labels") or "").split(",") if x]
    direction = _one(q, "direction", "desc")
    items = [
        i
        for i in repo.issues.values()
        if (state == "all" or i.state == state) and all(w in i.labels for w in wanted)
    ]
    items.sort(key=lambda i: (i.created_at, i.number), reverse=direction != "asc")
    chunk, headers = _page(fake, repo, items, q, "/issues")
    return 200, [_issue_json(fake, repo, i) for i in chunk], headers


def get_issue(fake: FakeGitHub, repo: Repo, q: Any, data: Any, number: str) -> Result:
    item = repo.issues.get(int(number))
    if item is None:
        raise _not_found()
    return 200, _issue_json(fake, repo, item), {}


ROUTES: list[tuple[str, str, Any]] = [
    (r"", "GET", get_repo),
    (r"/pulls", "GET", list_pulls),
    (r"/pulls", "POST", create_pull),
    (r"/pulls/(\d+)", "GET", get_pull),
    (r"/pulls/(\d+)", "PATCH", update_pull),
    (r"/pulls/(\d+)/merge", "PUT", merge_pull),
    (r"/pulls/(\d+)/reviews", "GET", list_reviews),
    (r"/pulls/(\d+)/comments", "GET", list_comments),
    (r"/commits/([^/]+)/check-runs", "GET", list_check_runs),
    (r"/check-runs/(\d+)/annotations", "GET", list_annotations),
    (r"/actions/jobs/(\d+)/logs", "GET", job_logs),
    (r"/branches/(.+)", "GET", get_branch),
    (r"/issues", "GET", list_issues),
    (r"/issues/(\d+)", "GET", get_issue),
]
