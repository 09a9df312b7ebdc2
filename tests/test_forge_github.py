"""GitHub as a forge (aof.forge.github) against a fake GitHub on 127.0.0.1 whose answers
githubkit parses with its typed models, and whose repositories are real bare git repos:
pull requests, checks with the logs of failed jobs, reviews, merges at the SHA seen green,
conditional requests, rate limits, errors, issues, the token and the repository name."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from aof.forge.base import ForgeDown, ForgeError, NoToken, RateLimited
from aof.forge.github import GitHubForge, forge_for, repo_of, resolve_token

from .support.fakegithub import TOKEN, FakeGitHub, fake_github, git, make_bare, push_branch, rev

__all__ = ["fake_github"]  # the fixture, used by name

REPO = "acme/site"


class Clock:
    """A clock the test moves (epoch seconds)."""

    def __init__(self, t: float = 1_900_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def gh(fake_github: FakeGitHub, tmp_path: Path) -> dict[str, Any]:
    bare = make_bare(tmp_path / "site.git", {"README.md": "hello\n", "app.py": "x = 1\n"})
    fake_github.add_repo(REPO, bare)
    clock = Clock()
    forge = GitHubForge(fake_github.url, TOKEN, now=clock)
    return {"fake": fake_github, "bare": bare, "forge": forge, "clock": clock}


def opened(gh: dict[str, Any], branch: str = "fix-1", body: str = "") -> Any:
    push_branch(gh["bare"], branch, {"app.py": "x = 2\n"}, message="fix")
    return gh["forge"].open_pr(REPO, head=branch, base="main", title="Fix", body=body)


# --- pull requests --------------------------------------------------------------------------


def test_open_find_and_update_a_pull_request(gh: dict[str, Any]) -> None:
    forge, fake = gh["forge"], gh["fake"]
    assert forge.find_pr(REPO, "fix-1") is None
    pr = opened(gh, body="Closes #9")
    assert pr.number == 1 and pr.state == "open" and not pr.merged
    assert pr.head_ref == "fix-1" and pr.base_ref == "main" and pr.body == "Closes #9"
    assert pr.head_sha == rev(gh["bare"], "fix-1")
    assert pr.url.endswith(f"/{REPO}/pull/1")
    found = forge.find_pr(REPO, "fix-1")
    assert found is not None and found.number == 1 and found.head_sha == pr.head_sha
    # opening again (an answer lost on the way) gives the same pull request, not a second one
    again = forge.open_pr(REPO, head="fix-1", base="main", title="Fix", body="")
    assert again.number == 1 and len(fake.repo(REPO).pulls) == 1
    updated = forge.update_pr(REPO, 1, title="Fix the login", body="Closes #9\n\nMore.")
    assert updated.title == "Fix the login" and fake.pull(REPO, 1).body == "Closes #9\n\nMore."
    with pytest.raises(ForgeError, match="pull request #7 not found in acme/site"):
        forge.update_pr(REPO, 7, title="x", body="y")
    with pytest.raises(ForgeError, match="head 'nope' does not exist"):
        forge.open_pr(REPO, head="nope", base="main", title="x", body="")


def test_observe_failing_and_passing_checks_with_the_failed_jobs_log(gh: dict[str, Any]) -> None:
    fake, forge = gh["fake"], gh["forge"]
    pr = opened(gh)
    log = "".join(f"2026-01-01T00:00:{i % 60:02d}.0000000Z step {i}\n" for i in range(400))
    log += (
        "2026-01-01T00:07:00.0000000Z \x1b[31mFAILED tests/test_app.py::test_x - assert 2 == 1"
        "\x1b[0m\n2026-01-01T00:07:01.0000000Z ##[error]Process completed with exit code 1.\n"
        "2026-01-01T00:07:02.0000000Z Post job cleanup.\n2026-01-01T00:07:03Z git config\n"
    )
    tests = fake.add_check(REPO, pr.head_sha, "tests", "failure", log=log)
    fake.add_check(
        REPO, pr.head_sha, "lint", "failure", title="2 problems", summary="ruff found 2",
        annotations=[{"path": "app.py", "line": 1, "message": "E501 line too long"}],
    )  # fmt: skip
    fake.add_check(REPO, pr.head_sha, "build", "success", log="all good\n")
    fake.add_check(REPO, pr.head_sha, "deploy", None, status="in_progress")
    seen = forge.observe(REPO, pr.number)
    by = {c.name: c for c in seen.checks}
    assert by["tests"].failed and by["lint"].failed and by["build"].passed
    assert not by["deploy"].failed and not by["deploy"].passed
    excerpt = by["tests"].log_excerpt
    assert excerpt.endswith("##[error]Process completed with exit code 1.")
    assert "FAILED tests/test_app.py::test_x - assert 2 == 1" in excerpt  # no colour codes
    assert "2026-01-01T" not in excerpt and "Post job cleanup" not in excerpt
    assert (
        2 < len(excerpt.splitlines()) <= 200 and "step 399" in excerpt and "step 1\n" not in excerpt
    )
    assert by["tests"].id == tests and by["tests"].url
    # the job log came through a 302 to another path of the server, followed
    assert fake.count("GET", rf"/actions/jobs/{tests}/logs$", 302) == 1
    assert fake.count("GET", rf"/_logs/{tests}\.txt$", 200) == 1
    # a check that is not an Actions job: its output and annotations
    assert (
        by["lint"].log_excerpt == "2 problems\nruff found 2\napp.py:1: failure: E501 line too long"
    )
    assert by["build"].log_excerpt == "" and fake.count("GET", "/_logs/") == 1
    # main is green here; no review yet
    assert seen.base_sha == rev(gh["bare"], "main") and seen.base_checks == []
    assert seen.reviews == [] and seen.comments == [] and not seen.unchanged
    assert seen.pr.mergeable_state == "unstable"


def test_observe_sees_a_red_base_branch_reviews_and_comments(gh: dict[str, Any]) -> None:
    fake, forge = gh["fake"], gh["forge"]
    pr = opened(gh)
    main = rev(gh["bare"], "main")
    assert main is not None
    fake.add_check(REPO, main, "tests", "failure", log="boom\nError: broken on main\n")
    fake.add_check(REPO, pr.head_sha, "tests", "failure", log="Error: broken on main\n")
    review = fake.add_review(REPO, 1, "CHANGES_REQUESTED", "Please rename x.", user="carol")
    fake.add_comment(REPO, 1, "app.py", 1, "x is not a name", user="carol", review_id=review)
    fake.add_review(REPO, 1, "APPROVED", "", user="dave")
    seen = forge.observe(REPO, 1)
    assert seen.base_sha == main and [c.name for c in seen.base_checks] == ["tests"]
    assert seen.base_checks[0].failed and seen.base_checks[0].log_excerpt == ""  # not fetched
    assert [(r.user, r.state, r.body) for r in seen.reviews] == [
        ("carol", "CHANGES_REQUESTED", "Please rename x."),
        ("dave", "APPROVED", ""),
    ]
    assert seen.reviews[0].commit_id == pr.head_sha and seen.reviews[0].submitted_at
    (comment,) = seen.comments
    assert (comment.path, comment.line, comment.body, comment.user) == (
        "app.py", 1, "x is not a name", "carol",
    )  # fmt: skip
    assert comment.review_id == review and comment.commit_id == pr.head_sha
    assert seen.to_json()["comments"][0]["path"] == "app.py"


# --- merging ----------------------------------------------------------------------------------


def test_merge_at_the_head_seen_green_makes_the_merge_commit(gh: dict[str, Any]) -> None:
    fake, forge, bare = gh["fake"], gh["forge"], gh["bare"]
    issue = fake.add_issue(REPO, "Login loops")
    pr = opened(gh, body=f"Fix the loop.\n\nCloses #{issue}")
    base_before = rev(bare, "main")
    result = forge.merge(REPO, pr.number, sha=pr.head_sha, method="merge")
    assert result.merged and not result.conflict and result.sha
    assert rev(bare, "main") == result.sha  # the base branch moved to the merge commit
    parents = git(bare, "rev-list", "--parents", "-n", "1", result.sha).split()[1:]
    assert parents == [base_before, pr.head_sha]
    assert git(bare, "show", f"{result.sha}:app.py") == "x = 2"
    assert fake.pull(REPO, pr.number).merged and fake.repo(REPO).issues[issue].state == "closed"
    # merging again: already merged is success
    again = forge.merge(REPO, pr.number, sha=pr.head_sha, method="merge")
    assert again.merged and again.message == "already merged"
    assert forge.observe(REPO, pr.number).pr.merged


def test_a_moved_head_or_a_conflict_is_not_merged(gh: dict[str, Any]) -> None:
    fake, forge, bare = gh["fake"], gh["forge"], gh["bare"]
    pr = opened(gh)
    seen_green = pr.head_sha
    push_branch(bare, "fix-1", {"app.py": "x = 3\n"}, message="one more")  # after the look
    base_before = rev(bare, "main")
    moved = forge.merge(REPO, pr.number, sha=seen_green, method="squash")
    assert not moved.merged and moved.conflict and "head moved" in moved.message
    assert rev(bare, "main") == base_before and not fake.pull(REPO, 1).merged
    # the base branch changed the same line: GitHub cannot merge (405)
    push_branch(bare, "main", {"app.py": "x = 100\n"}, message="on main")
    head = rev(bare, "fix-1")
    assert head is not None
    assert forge.observe(REPO, 1).pr.mergeable_state == "dirty"
    dirty = forge.merge(REPO, 1, sha=head, method="merge")
    assert not dirty.merged and dirty.conflict and "not mergeable" in dirty.message
    with pytest.raises(ForgeError, match="merge method 'octopus'"):
        forge.merge(REPO, 1, sha=head, method="octopus")


def test_a_merge_refused_by_a_rule_is_no_conflict(gh: dict[str, Any]) -> None:
    fake, forge, bare = gh["fake"], gh["forge"], gh["bare"]
    pr = opened(gh)
    push_branch(bare, "main", {"app.py": "x = 100\n"}, message="on main")
    fake.set_pull(REPO, pr.number, mergeable_state="blocked")
    refused = forge.merge(REPO, pr.number, sha=pr.head_sha, method="merge")
    assert not refused.merged and not refused.conflict


# --- conditional requests and rate limits -----------------------------------------------------


def test_an_unchanged_pull_request_costs_only_304s(gh: dict[str, Any]) -> None:
    fake, forge = gh["fake"], gh["forge"]
    pr = opened(gh)
    fake.add_check(REPO, pr.head_sha, "tests", "failure", log="Error: x\n")
    first = forge.observe(REPO, 1)
    assert not first.unchanged
    fake.clear_log()
    sent, free, left = forge.budget.requests, forge.budget.not_modified, forge.budget.remaining
    second = forge.observe(REPO, 1)
    assert second.unchanged and second.checks == first.checks and second.pr == first.pr
    gets = [r for r in fake.requests]
    assert len(gets) == 6  # the PR, its checks, the base branch, its checks, reviews, comments
    assert all(r.status == 304 and r.if_none_match for r in gets)
    assert forge.budget.requests - sent == 6 and forge.budget.not_modified - free == 6
    assert len({r.client_port for r in gets}) == 1  # one connection, kept alive
    assert forge.budget.remaining == left == fake.remaining  # a 304 costs nothing
    assert left < 5000 - 4  # every other answer did
    # a new review changes two answers (the reviews, and the PR whose updated_at it moved):
    # seen, and the observation is not unchanged
    fake.add_review(REPO, 1, "APPROVED")
    third = forge.observe(REPO, 1)
    assert not third.unchanged and [r.state for r in third.reviews] == ["APPROVED"]
    assert fake.count("GET", "/pulls/1/reviews$", 200) == 1
    assert fake.count("GET", "/pulls/1$", 200) == 1
    assert fake.count(status=304) == 6 + 4


def test_a_spent_rate_limit_stops_requests_until_its_reset(gh: dict[str, Any]) -> None:
    fake, forge, clock = gh["fake"], gh["forge"], gh["clock"]
    pr = opened(gh)
    reset = clock.t + 600
    fake.limit(reset)
    with pytest.raises(RateLimited) as caught:
        forge.observe(REPO, pr.number)
    assert caught.value.reset_at == reset and "rate limit" in str(caught.value)
    assert forge.budget.remaining == 0 and forge.budget.reset_at == reset
    sent = len(fake.requests)
    clock.t = reset - 1
    for call in (lambda: forge.observe(REPO, 1), lambda: forge.find_pr(REPO, "fix-1")):
        with pytest.raises(RateLimited):
            call()
    assert len(fake.requests) == sent  # nothing sent before the reset
    fake.unlimit()
    clock.t = reset + 1
    assert forge.observe(REPO, 1).pr.number == 1 and len(fake.requests) > sent


def test_a_secondary_rate_limit_waits_its_retry_after(gh: dict[str, Any]) -> None:
    fake, forge, clock = gh["fake"], gh["forge"], gh["clock"]
    fake.limit(clock.t + 3600, status=429, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        forge.issues(REPO, labels=[], limit=5)
    assert caught.value.reset_at == clock.t + 30 and "secondary" in str(caught.value)
    fake.unlimit()
    clock.t += 31
    assert forge.issues(REPO, labels=[], limit=5) == []


# --- errors -----------------------------------------------------------------------------------


def test_an_unknown_repository_is_named(gh: dict[str, Any]) -> None:
    forge = gh["forge"]
    for call in (
        lambda: forge.find_pr("acme/nope", "x"),
        lambda: forge.observe("acme/nope", 1),
        lambda: forge.issues("acme/nope", labels=[], limit=3),
    ):
        with pytest.raises(ForgeError) as caught:
            call()
        assert str(caught.value) == (
            "github: repository acme/nope not found (or the token cannot see it)"
        )
        assert not isinstance(caught.value, ForgeDown)
    with pytest.raises(ForgeError, match="not a repository name"):
        forge.observe("no-slash", 1)


def test_a_forge_that_does_not_answer_is_down(gh: dict[str, Any]) -> None:
    fake, forge = gh["fake"], gh["forge"]
    opened(gh)
    fake.down("503")
    with pytest.raises(ForgeDown, match="503"):
        forge.observe(REPO, 1)
    fake.up()
    fake.down("refused")
    with pytest.raises(ForgeDown, match=r"no answer from http://127\.0\.0\.1"):
        forge.observe(REPO, 1)
    fake.up()
    assert forge.observe(REPO, 1).pr.number == 1


def test_a_refused_token_is_never_shown(gh: dict[str, Any]) -> None:
    secret = "ghp_secret-value-not-to-print"
    forge = GitHubForge(gh["fake"].url, secret)
    with pytest.raises(ForgeError) as caught:
        forge.find_pr(REPO, "x")
    assert "401" in str(caught.value) and secret not in str(caught.value)
    assert secret not in repr(caught.value.__cause__) and caught.value.__suppress_context__


def test_github_enterprise_api_url(gh: dict[str, Any]) -> None:
    fake = gh["fake"]
    forge = forge_for(
        {"forges": {"github": {"api_url": fake.url + "/api/v3"}}}, {"GH_TOKEN": TOKEN}
    )
    assert forge.api_url == fake.url + "/api/v3"
    assert forge.issues(REPO, labels=[], limit=1) == []
    assert forge_for({}, {}).api_url == "https://api.github.com"


# --- issues -----------------------------------------------------------------------------------


def test_issues_skip_pull_requests_and_respect_labels_and_limit(gh: dict[str, Any]) -> None:
    fake, forge = gh["fake"], gh["forge"]
    first = fake.add_issue(REPO, "Old bug", "It breaks.", ["bug"])
    opened(gh)  # pull request #2: GitHub lists it among the issues
    for i in range(120):
        fake.add_issue(REPO, f"Idea {i}", labels=["idea", "p2"] if i % 2 else ["idea"])
    newest = fake.add_issue(REPO, "New bug", "", ["bug", "p1"])
    fake.set_issue(REPO, first + 2, state="closed")  # "Idea 0"
    bugs = forge.issues(REPO, labels=["bug"], limit=10)
    assert [(i.number, i.title, i.labels) for i in bugs] == [
        (newest, "New bug", ["bug", "p1"]),
        (first, "Old bug", ["bug"]),
    ]
    assert bugs[1].body == "It breaks." and bugs[1].url.endswith(f"/issues/{first}")
    assert [i.number for i in forge.issues(REPO, labels=["bug", "p1"], limit=10)] == [newest]
    every = forge.issues(REPO, labels=[], limit=500)  # two pages, the PR left out
    assert len(every) == 1 + 119 + 1 and 2 not in {i.number for i in every}
    assert [i.number for i in every] == sorted((i.number for i in every), reverse=True)
    assert len(forge.issues(REPO, labels=[], limit=3)) == 3
    assert fake.count("GET", "/issues$") == 1 + 1 + 2 + 1  # pages of 100
    assert fake.requests[-1].status == 304  # the first page again, unchanged
    issue = forge.issue(REPO, first)
    assert issue.title == "Old bug" and issue.state == "open"
    with pytest.raises(ForgeError, match="#2 in acme/site is a pull request"):
        forge.issue(REPO, 2)
    with pytest.raises(ForgeError, match="issue #999 not found in acme/site"):
        forge.issue(REPO, 999)


# --- the token and the repository name -------------------------------------------------------


def fake_gh(tmp_path: Path, script: str) -> str:
    bindir = tmp_path / "ghbin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "gh"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return f"{bindir}:/usr/bin:/bin"


def test_the_token_comes_from_the_environment_then_gh(tmp_path: Path) -> None:
    path = fake_gh(tmp_path, 'echo "$@" > "$(dirname "$0")/args"\necho gho_from-gh\n')
    env = {"PATH": path, "GITHUB_TOKEN": "t1", "GH_TOKEN": "t2"}
    assert resolve_token(env) == "t1"
    assert resolve_token({**env, "GITHUB_TOKEN": " "}) == "t2"
    assert resolve_token({"PATH": path}) == "gho_from-gh"
    assert (tmp_path / "ghbin" / "args").read_text().split() == ["auth", "token"]
    assert resolve_token({"PATH": path}, "ghe.example.com") == "gho_from-gh"
    args = (tmp_path / "ghbin" / "args").read_text().split()
    assert args == ["auth", "token", "--hostname", "ghe.example.com"]


def test_no_token_names_every_place_looked_at(tmp_path: Path) -> None:
    message = (
        "no GitHub token: set GITHUB_TOKEN or GH_TOKEN, or log in with `gh auth login` "
        "(looked at GITHUB_TOKEN, GH_TOKEN, gh auth token)"
    )
    with pytest.raises(NoToken) as caught:
        resolve_token({"PATH": str(tmp_path / "empty")})
    assert str(caught.value) == message
    logged_out = fake_gh(tmp_path, "echo 'not logged in' >&2\nexit 1\n")
    with pytest.raises(NoToken, match="looked at GITHUB_TOKEN"):
        resolve_token({"PATH": logged_out})
    # a forge without a token says so at its first request, not before
    forge = GitHubForge("http://127.0.0.1:9", env={"PATH": logged_out})
    with pytest.raises(NoToken):
        forge.find_pr(REPO, "x")
    assert forge.budget.requests == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/site", "acme/site"),
        ("https://github.com/acme/site.git", "acme/site"),
        ("https://user@github.com/acme/site.git/", "acme/site"),
        ("git@github.com:acme/site.git", "acme/site"),
        ("git@github.com:acme/my.site", "acme/my.site"),
        ("ssh://git@github.com/acme/site", "acme/site"),
        ("ssh://git@github.com:22/acme/site.git", "acme/site"),
        ("https://gitlab.com/acme/site.git", None),
        ("git@gitlab.com:acme/site.git", None),
        ("/srv/git/site.git", None),
        ("https://github.com/acme", None),
        ("https://ghe.example.com/acme/site.git", None),
    ],
)
def test_repo_of_a_remote_url(url: str, expected: str | None) -> None:
    assert repo_of({"remote_url": url}) == expected


def test_repo_of_prefers_the_repo_field_and_knows_the_enterprise_host() -> None:
    assert repo_of({"repo": "acme/api", "remote_url": "git@github.com:acme/site.git"}) == "acme/api"
    assert repo_of({}) is None
    ghe = "https://ghe.example.com/api/v3"
    assert repo_of({"remote_url": "https://ghe.example.com/acme/site.git"}, ghe) == "acme/site"
    assert repo_of({"remote_url": "git@ghe.example.com:acme/site.git"}, ghe) == "acme/site"
    assert repo_of({"remote_url": "git@github.com:acme/site.git"}, ghe) == "acme/site"


def test_githubkit_is_loaded_only_to_talk_to_github() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nimport aof.forge.github, aof.forge.issues\n"
        "from aof.forge.github import GitHubForge, forge_for, repo_of\n"
        "forge_for({}, {}); repo_of({'remote_url': 'git@github.com:a/b.git'})\n"
        "print('githubkit' in sys.modules, 'httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.stdout.split() == ["False", "False"], out.stderr
