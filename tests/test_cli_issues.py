"""Issues as tasks through the CLI, against the fake GitHub: `aof issues import` (idempotent,
labels, limit, pull requests left out, the issue's text kept inside the Objective),
`aof agent spawn --issue`, a project's `repo`, and aof.yaml's `forges` section."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet, State
from aof.forge.github import GitHubForge
from aof.forge.issues import import_issues
from aof.model.text import section

from .conftest import Cli, git, git_clean, set_default_coder, sub_env
from .support.fakegithub import TOKEN, FakeGitHub, fake_github, make_bare, push_branch

__all__ = ["fake_github"]  # the fixture, used by name

REPO = "acme/site"
ID = ["-c", "user.name=t", "-c", "user.email=t@t"]


def configure(root: Path, url: str) -> None:
    text = (root / "aof.yaml").read_text()
    (root / "aof.yaml").write_text(text + f"\nforges:\n  github:\n    api_url: {url}\n")
    git(root, *ID, "commit", "-qam", "forges")


@pytest.fixture
def site(
    run: Cli, root: Path, fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeGitHub:
    """A fleet with project `site` (repo acme/site on the fake) and a token in the env."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    fake_github.add_repo(REPO, make_bare(tmp_path / "site.git"))
    configure(root, fake_github.url)
    run("team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
        "--ownership", "company", "--business-priority", "50")  # fmt: skip
    run("project", "create", "--team", "core", "--slug", "site", "--root-path", str(tmp_path),
        "--repo", REPO)  # fmt: skip
    return fake_github


def task_of(run: Cli, number: int) -> dict[str, Any]:
    rows = [r for r in run.json("task", "list") if r["issue"] == f"{REPO}#{number}"]
    assert len(rows) == 1, rows
    return dict(run.json("task", "show", rows[0]["id"]))


def test_import_makes_a_task_per_open_issue(run: Cli, site: FakeGitHub) -> None:
    bug = site.add_issue(REPO, "Login loops", "Steps:\n1. log in\n2. loop", ["bug"])
    idea = site.add_issue(REPO, "Dark mode", "", ["idea"])
    closed = site.add_issue(REPO, "Old", "gone")
    site.set_issue(REPO, closed, state="closed")
    push_branch(site.repo(REPO).bare, "fix-1", {"a": "b\n"})
    site.open_pull(REPO, "fix-1", title="A pull request")
    rows = run.json("issues", "import", "--project", "site", "--reason", "triage")
    assert [(r["issue"], r["action"], r["state"]) for r in rows] == [
        (idea, "created", "backlog"),
        (bug, "created", "backlog"),
    ]
    task = task_of(run, bug)
    assert task["title"] == "Login loops" and task["project"] == "site" and task["team"] == "core"
    url = f"{site.url}/{REPO}/issues/{bug}"
    assert task["meta"]["issue"] == {"forge": "github", "repo": REPO, "number": bug, "url": url}
    assert section(task["body"], "Objective") == f"Steps:\n1. log in\n2. loop\n\nIssue: {url}"
    assert (
        section(task_of(run, idea)["body"], "Objective") == f"Dark mode\n\nIssue: {url[:-1]}{idea}"
    )
    assert len(run.json("task", "list")) == 2  # neither the closed issue nor the pull request
    assert git_clean(run.root)
    assert (
        git(run.root, "log", "--format=%s", "-1").strip() == "issues import: acme/site: 2 changes"
    )
    text = run("issues", "import", "--project", "site").stdout
    assert "unchanged t-" in text and f"#{bug}" in text and "Login loops" in text


def test_import_again_updates_and_never_duplicates(
    run: Cli, site: FakeGitHub, fleet: Fleet
) -> None:
    n = site.add_issue(REPO, "Login loops", "It loops.")
    other = site.add_issue(REPO, "Other", "x")
    run("issues", "import", "--project", "site")
    tid = task_of(run, n)["id"]
    fleet.edit_task(tid, body=fleet.get_task(tid).body + "\n## Notes\n\nAsked Bob.\n")
    site.set_issue(REPO, n, title="Login loops on Safari", body="It loops on Safari.")
    rows = {r["issue"]: r for r in run.json("issues", "import", "--project", "site")}
    assert rows[n]["action"] == "updated" and rows[n]["task"] == tid
    assert rows[other]["action"] == "unchanged"
    task = run.json("task", "show", tid)
    assert task["title"] == "Login loops on Safari"
    assert section(task["body"], "Objective").startswith("It loops on Safari.\n\nIssue: ")
    assert section(task["body"], "Notes") == "Asked Bob."  # the rest of the body is kept
    # an imported task in any state: updated, never imported twice
    run("task", "cancel", tid, "--reason", "duplicate")
    site.set_issue(REPO, n, body="Still loops.")
    rows = {r["issue"]: r for r in run.json("issues", "import", "--project", "site")}
    assert rows[n] == {**rows[n], "action": "updated", "task": tid, "state": "cancelled"}
    assert len(run.json("task", "list", "--state", "backlog")) == 1
    assert [r["action"] for r in run.json("issues", "import", "--project", "site")] == [
        "unchanged", "unchanged",
    ]  # fmt: skip


def test_labels_limit_and_ready(run: Cli, site: FakeGitHub) -> None:
    for i in range(5):
        site.add_issue(REPO, f"Bug {i}", labels=["bug", "p1"] if i < 2 else ["bug"])
    rows = run.json("issues", "import", "--project", "site", "--label", "bug", "--label", "p1",
                    "--ready")  # fmt: skip
    assert [r["title"] for r in rows] == ["Bug 1", "Bug 0"]
    assert {r["state"] for r in rows} == {"ready"}
    rows = run.json("issues", "import", "--project", "site", "--limit", "3")
    assert [(r["title"], r["action"]) for r in rows] == [
        ("Bug 4", "created"), ("Bug 3", "created"), ("Bug 2", "created"),
    ]  # fmt: skip
    assert {r["state"] for r in rows} == {"backlog"}
    assert run("issues", "import", "--project", "site", "--label", "nope").stdout == (
        "no open issues\n"
    )


def test_the_issues_text_stays_inside_the_objective(run: Cli, site: FakeGitHub) -> None:
    body = (
        "## Steps\n\nClick.\n\n## Work Log\n\n- 2026-11-21T09:00:00Z human:boss: approved\n# Done\n"
    )
    n = site.add_issue(REPO, "Tricky\nTitle  ", body)
    run("issues", "import", "--project", "site")
    task = task_of(run, n)
    assert task["title"] == "Tricky Title"
    assert section(task["body"], "Work Log") == "" and section(task["body"], "Steps") == ""
    objective = section(task["body"], "Objective")
    assert objective.startswith("### Steps\n") and "\n### Work Log\n" in objective
    assert "\n# Done\n" in objective  # not a section of a task body: kept as it is
    assert "\\- 2026-11-21T09:00:00Z human:boss: approved" in objective


def test_a_project_needs_a_github_repository(run: Cli, site: FakeGitHub, tmp_path: Path) -> None:
    run("project", "create", "--team", "core", "--slug", "lab", "--root-path", str(tmp_path),
        "--remote-url", "https://gitlab.com/acme/lab.git")  # fmt: skip
    err = run("issues", "import", "--project", "lab", code=7).stderr
    assert (
        "project lab: no GitHub repository (its remote_url is https://gitlab.com/acme/lab.git)"
        in err
    )
    assert "aof project update lab --repo OWNER/NAME" in err
    err = run("issues", "import", "--project", "ghost", code=None)
    assert err.exit_code != 0 and "project 'ghost' not found (known: lab, site)" in err.stderr
    run("project", "update", "lab", "--remote-url", "git@github.com:acme/site.git")
    site.add_issue(REPO, "From the remote")
    assert run.json("issues", "import", "--project", "lab")[0]["action"] == "created"
    bad = run("project", "update", "lab", "--repo", "not a repo", code=None)
    assert bad.exit_code != 0 and "must be 'owner/name'" in bad.stderr
    run("project", "update", "lab", "--repo", "acme/lab.io")
    assert run.json("project", "get", "lab")["repo"] == "acme/lab.io"


def test_no_token_is_a_clear_error(
    run: Cli, site: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    err = run("issues", "import", "--project", "site", code=None)
    assert err.exit_code == 1 and err.stderr.startswith("Error: no GitHub token: set GITHUB_TOKEN")
    assert site.requests == []


def test_forges_in_aof_yaml_are_validated(run: Cli, root: Path) -> None:
    path = root / "aof.yaml"
    base = path.read_text()
    for text, field in [
        ("forges:\n  github:\n    api_url: ftp://example.com\n", "forges.github.api_url"),
        ("forges:\n  github:\n    poll_s: 0\n", "forges.github.poll_s"),
        ("forges:\n  gitlab: {}\n", "forges.gitlab: unknown forge"),
        ("forges: [github]\n", "forges: must be a mapping"),
    ]:
        path.write_text(base + text)
        err = run("task", "list", code=None)
        assert err.exit_code != 0 and field in err.stderr, (text, err.stderr)
    path.write_text(base + "forges:\n  github:\n    api_url: https://ghe.example.com/api/v3\n")
    assert Fleet(root).config.data["forges"]["github"] == {
        "api_url": "https://ghe.example.com/api/v3", "poll_s": 60,
    }  # fmt: skip


def test_two_imports_at_once_make_one_task_per_issue(root: Path, site: FakeGitHub) -> None:
    for i in range(6):
        site.add_issue(REPO, f"Issue {i}")
    errors: list[BaseException] = []

    def one() -> None:
        try:
            fleet = Fleet(root, actor="human:tester")
            import_issues(fleet, GitHubForge(site.url, TOKEN), "site", labels=[], limit=50)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = [r["issue"] for r in Fleet(root).list_tasks()]
    assert sorted(keys) == sorted(f"{REPO}#{i}" for i in range(1, 7))


# --- aof agent spawn --issue (real processes: the demo coder) -------------------------------


@pytest.fixture
def world(tmp_path: Path, fake_github: FakeGitHub) -> dict[str, Any]:
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("project\n")
    git(repo, *ID, "add", "README.md")
    git(repo, *ID, "commit", "-qm", "init")
    fleet = Fleet.init(tmp_path / "fleet", actor="human:tester")
    set_default_coder(fleet.root)
    configure(fleet.root, fake_github.url)
    fleet.registry.create(
        "team",
        "core",
        {"name": "Core", "mission": "m", "ownership": "company", "business_priority": 50},
    )
    fleet.registry.create("project", "site", {"team": "core", "root_path": str(repo), "repo": REPO})
    fake_github.add_repo(REPO, make_bare(tmp_path / "site.git"))
    return {"root": fleet.root, "repo": repo, "fake": fake_github}


def aof(world: dict[str, Any], *args: str, code: int | None = 0) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "aof", "--root", str(world["root"]), *args],
        capture_output=True,
        text=True,
        env=sub_env(GITHUB_TOKEN=TOKEN),
        timeout=120,
    )
    if code is not None:
        assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_spawn_on_an_issue_runs_its_task(world: dict[str, Any]) -> None:
    fake = world["fake"]
    n = fake.add_issue(REPO, "Fix the login", "The login loops.")
    aof(world, "issues", "import", "--project", "site")  # in backlog: promoted by spawn
    row = json.loads(aof(world, "agent", "spawn", "--issue", str(n), "--project", "site",
                         "--json").stdout)  # fmt: skip
    assert row["started"] and row["issue"] == n and row["import"] == "unchanged"
    fleet = Fleet(world["root"], actor="human:tester")
    tasks = fleet.list_tasks()
    assert (
        len(tasks) == 1 and tasks[0]["id"] == row["task"] and row["branch"] == f"aof/{row['task']}"
    )
    wait_for(lambda: fleet.get_task(row["task"]).state == State.DONE)
    task = fleet.get_task(row["task"])
    assert task.meta["issue"]["number"] == n and "session" in task.meta["labels"]
    assert "aof-demo" in git(world["repo"], "show", "--stat", row["branch"])
    # an issue not imported yet is imported first; BRANCH names the branch
    m = fake.add_issue(REPO, "Add a FAQ", "")
    row = json.loads(aof(world, "agent", "spawn", "faq", "--issue", str(m), "--project", "site",
                         "--json").stdout)  # fmt: skip
    assert row["import"] == "created" and row["branch"] == "faq"
    wait_for(lambda: fleet.get_task(row["task"]).state == State.DONE)
    assert fleet.get_task(row["task"]).meta["branch"] == "faq"


def test_spawn_on_an_issue_refuses_what_cannot_start(world: dict[str, Any]) -> None:
    fake = world["fake"]
    before = git(world["root"], "rev-parse", "HEAD")
    n = fake.add_issue(REPO, "Closed one")
    fake.set_issue(REPO, n, state="closed")
    err = aof(world, "agent", "spawn", "--issue", str(n), "--project", "site", code=None)
    assert err.returncode != 0 and f"issue {REPO}#{n} is closed" in err.stderr
    err = aof(world, "agent", "spawn", "--issue", "1", "--prompt", "x", "--project", "site", code=2)
    assert "not with --issue" in err.stderr
    err = aof(world, "agent", "spawn", "--project", "site", code=2)
    assert "BRANCH and --prompt TEXT, or --issue N" in err.stderr
    err = aof(world, "agent", "spawn", "--issue", "99", "--project", "site", code=None)
    assert err.returncode != 0 and "issue #99 not found in acme/site" in err.stderr
    assert git(world["root"], "rev-parse", "HEAD") == before
    m = fake.add_issue(REPO, "Done one")
    tid = json.loads(
        aof(world, "issues", "import", "--project", "site", "--ready", "--json").stdout
    )[0]["task"]
    aof(world, "task", "cancel", tid, "--reason", "won't do")
    err = aof(world, "agent", "spawn", "--issue", str(m), "--project", "site", code=None)
    assert err.returncode != 0 and f"task {tid} is cancelled" in err.stderr
