"""Nothing on disk is trusted: links, FIFOs and stray names in a fleet root are never followed
into commits, writes, listings or prompts. Each test carries out an attack from the security
audit (a link to a secret, a FIFO named like a task, a forged pending-commit path, a
symlinked state directory, a run file that is a link or rewritten after settlement)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aof import Fleet
from aof.errors import GitError, NotFound, ValidationError

from .conftest import git, sub_env

SECRET = "TOP-SECRET-SSH-KEY-MATERIAL"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


def aged_link(target: Path, link: Path) -> Path:
    """A symlink ``link`` -> ``target`` that a person made a while ago (sweeps wait 2 s)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    os.utime(link, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    return link


def history(root: Path) -> str:
    """Every byte git holds for the root's branch (patches of every commit)."""
    return git(root, "log", "-p", "--all", "--format=%H %s")


def aof(
    aof_bin: str, root: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aof_bin, "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sub_env(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t"),
    )


# --- the committer, the sweep and the janitor ------------------------------------------------


def test_a_daemon_tick_commits_no_link_target_and_no_stray_name(
    tmp_path: Path, aof_bin: str, secret: Path
) -> None:
    root = tmp_path / "fleet"
    assert subprocess.run([aof_bin, "init", str(root)], capture_output=True).returncode == 0
    aged_link(secret, root / "workflows" / "leak.yaml")
    aged_link(secret, root / "teams" / "notes.txt")
    aged_link(secret, root / "knowledge" / "documents" / "x.txt")
    aged_link(secret, root / "knowledge" / "documents" / "y.md")
    aged_link(secret, root / "tasks" / "ready" / "t-abcd12-pw.md")
    stray = root / "teams" / "stray.txt"  # a regular file with a name teams/ does not hold
    stray.write_text("not a team\n")
    os.utime(stray, (1_000_000_000, 1_000_000_000))
    before = git(root, "rev-parse", "HEAD")
    for _ in range(2):  # the second tick must not commit the targets again either
        done = aof(aof_bin, root, "daemon", "--once")
        assert done.returncode == 0, done.stderr
    assert SECRET not in history(root)
    tree = git(root, "ls-tree", "-r", "HEAD").splitlines()
    for rel in ("leak.yaml", "notes.txt", "x.txt", "y.md", "t-abcd12-pw.md", "stray.txt"):
        assert not any(rel in line for line in tree), (rel, tree)
    assert git(root, "rev-list", f"{before.strip()}..HEAD").strip() == ""  # nothing committed
    lint = aof(aof_bin, root, "lint")
    assert "t-abcd12-pw.md" in lint.stdout + lint.stderr


def test_the_janitor_commits_only_files_that_validate(
    root: Path, fleet: Fleet, secret: Path
) -> None:
    aged_link(secret, root / "tasks" / "ready" / "t-abcd12-pw.md")
    task = fleet.create_task("written by aof, commit lost in a crash")
    git(root, "update-ref", "HEAD", "HEAD~1")  # the task's commit never happened
    git(root, "reset", "-q")
    report = fleet.doctor(fix=True)
    assert SECRET not in history(root)
    assert f"tasks/backlog/{task.path.name}" in git(root, "ls-tree", "-r", "--name-only", "HEAD")
    refused = [p for p in report.problems if p.path == "tasks/ready/t-abcd12-pw.md"]
    assert refused and "symlink" in refused[0].message and not refused[0].fixed


def test_the_committer_commits_a_link_as_a_link_never_its_target(
    root: Path, fleet: Fleet, secret: Path
) -> None:
    aged_link(secret, root / "knowledge" / "documents" / "notes.md")
    fleet.git.commit(["knowledge/documents/notes.md"], "a link", fleet.actor)
    mode, kind, blob = git(root, "ls-tree", "HEAD", "knowledge/documents/notes.md").split()[:3]
    assert (mode, kind) == ("120000", "blob")
    assert git(root, "cat-file", "-p", blob) == str(secret)
    assert SECRET not in history(root)
    assert "notes.md" not in git(root, "status", "--porcelain")  # as git itself sees it


def test_the_committer_leaves_out_a_fifo(root: Path) -> None:
    fifo = root / "tasks" / "ready" / "t-ffff01-x.md"
    os.mkfifo(fifo)
    code = (
        "import sys; from aof import Fleet; f = Fleet(sys.argv[1]); "
        "print(f.git.commit([sys.argv[2]], 'a fifo', f.actor))"
    )
    # In a process of its own: a committer that opens the FIFO blocks for good.
    done = subprocess.run(
        [sys.executable, "-c", code, str(root), str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        env=sub_env(),
    )
    assert (done.returncode, done.stdout) == (0, "None\n"), done.stderr
    assert "t-ffff01" not in git(root, "ls-tree", "-r", "--name-only", "HEAD")


@pytest.mark.parametrize(
    "path",
    ["tasks/../../../../../etc/passwd", "tasks/./x/../../../../etc/hostname", "/etc/passwd"],
)
def test_the_committer_refuses_a_path_outside_the_root(fleet: Fleet, path: str) -> None:
    with pytest.raises(GitError, match="refusing to commit path"):
        fleet.git.commit([path], "escape", fleet.actor)


def test_the_committer_refuses_a_path_through_a_symlinked_directory(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "t-abcd12-x.md").write_text(SECRET)
    aged_link(tmp_path / "elsewhere", root / "tasks" / "archive")
    with pytest.raises(GitError, match="no link on the way"):
        fleet.git.commit(["tasks/archive/t-abcd12-x.md"], "through a link", fleet.actor)


def test_batch_mode_never_commits_a_forged_pending_path(root: Path, fleet: Fleet) -> None:
    task = fleet.create_task("a real change")
    rel = f"tasks/backlog/{task.path.name}"
    git(root, "update-ref", "HEAD", "HEAD~1")
    git(root, "reset", "-q")
    forged = ["tasks/../../../../../etc/passwd", "/etc/hostname", "tasks/./../../x"]
    fleet.git.pending_path.write_text(
        json.dumps({"paths": [*forged, rel], "message": "task t-x: progress", "author": "agent:x"})
        + "\n"
    )
    sha = fleet.git.flush_pending(fleet.actor)
    assert sha is not None
    assert git(root, "ls-tree", "-r", "--name-only", sha).split().count(rel) == 1
    assert ".." not in git(root, "ls-tree", "-r", "-t", "--name-only", sha)
    assert "root:" not in history(root)
    assert sorted(fleet.git.refused) == sorted(forged)
    assert not fleet.git.pending_path.exists()  # no crash loop: the next tick starts clean
    subprocess.run(["git", "fsck", "--strict"], cwd=root, check=True, capture_output=True)


# --- writes ------------------------------------------------------------------------------


def test_an_audit_append_never_writes_through_a_link(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    target = tmp_path / "target.txt"
    target.write_text("ORIGINAL TARGET CONTENT\n")
    day = fleet.audit.path_for(fleet.clock.now())
    day.unlink(missing_ok=True)
    aged_link(target, day)
    with pytest.raises(ValidationError, match="is a symlink; aof does not write through links"):
        fleet.create_task("normal task")
    assert target.read_text() == "ORIGINAL TARGET CONTENT\n"
    assert "ORIGINAL TARGET" not in history(root)


def test_no_card_is_written_into_a_symlinked_state_directory(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    outside = tmp_path / "outside6"
    outside.mkdir()
    shutil.rmtree(root / "tasks" / "done")
    aged_link(outside, root / "tasks" / "done")
    task = fleet.create_task("finish me", ready=True)
    claimed = fleet.claim(task.id, "coder-1")
    with pytest.raises(ValidationError, match="a symlink is on the way"):
        fleet.complete(task.id, token=claimed.meta["lease"]["token"], summary="done")
    assert list(outside.iterdir()) == []
    assert fleet.get_task(task.id).state.value == "in-progress"


# --- reads -------------------------------------------------------------------------------


def test_a_fifo_named_like_a_task_is_reported_never_opened(root: Path, aof_bin: str) -> None:
    os.mkfifo(root / "tasks" / "ready" / "t-ffff01-x.md")
    listing = aof(aof_bin, root, "task", "list", "--json")  # hung forever before
    assert "tasks/ready/t-ffff01-x.md:1: (file): is not a regular file" in listing.stdout
    shown = aof(aof_bin, root, "task", "show", "t-ffff01")
    assert shown.returncode != 0 and "not a regular file" in shown.stderr
    tick = aof(aof_bin, root, "daemon", "--once")
    assert tick.returncode == 0, tick.stderr


def outside_card(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "outside-cards" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_knowledge_get_refuses_a_link_as_listing_does(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    card = outside_card(
        tmp_path,
        "doc.md",
        "---\nschema: aof/document/v1\ntitle: x\nkind: runbook\n---\n"
        "SECRET BODY FROM OUTSIDE THE FLEET ROOT\n",
    )
    aged_link(card, root / "knowledge" / "documents" / "x.md")
    with pytest.raises(ValidationError) as err:
        fleet.knowledge.get("document", "x")
    assert str(err.value) == ("knowledge/documents/x.md:1: is a symlink; aof does not follow links")


def test_registry_get_refuses_a_link_and_echoes_nothing_from_its_target(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    card = outside_card(
        tmp_path, "proj.md", "---\nschema: aof/project/v1\nteam: 'secret-value: AKIA1234'\n---\n"
    )
    aged_link(card, root / "projects" / "y.md")
    with pytest.raises(ValidationError) as err:
        fleet.registry.get("project", "y")
    assert "AKIA" not in str(err.value)
    assert str(err.value) == "projects/y.md:1: is a symlink; aof does not follow links"


def test_registry_get_refuses_a_symlinked_directory(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    outside = tmp_path / "teams-elsewhere"
    outside.mkdir()
    (outside / "web.md").write_text("---\nschema: aof/team/v1\nname: Web\n---\n")
    shutil.rmtree(root / "teams")
    aged_link(outside, root / "teams")
    with pytest.raises(ValidationError, match="a symlink is on the way"):
        fleet.registry.get("team", "web")


def test_tasks_are_never_read_from_a_symlinked_state_directory(
    root: Path, fleet: Fleet, tmp_path: Path
) -> None:
    task = fleet.create_task("a real task")
    outside = tmp_path / "blocked-elsewhere"
    outside.mkdir()
    (outside / "t-abcd12-linked.md").write_text(
        task.path.read_text().replace(task.id, "t-abcd12").replace("a real task", SECRET)
    )
    shutil.rmtree(root / "tasks" / "blocked")
    aged_link(outside, root / "tasks" / "blocked")
    with pytest.raises(NotFound):
        fleet.get_task("t-abcd12")
    assert SECRET not in json.dumps(fleet.list_tasks(), default=str)
