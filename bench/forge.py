"""What polling 100 open pull requests costs: requests per round, and the share of GitHub's
hourly rate limit it uses, counted from a fake GitHub's request log.

Builds a fleet root whose project ships through the fake GitHub of the test suite (a real
HTTP server on 127.0.0.1, a bare repository as the remote), puts PRS tasks at a pr gate, and
runs the daemon's forge poller round after round: the first round pushes the branches and
opens the pull requests, the second reads each one, then steady rounds follow, while CI's
check on each PR is queued; it completes on a tenth of them before round 4 and on all the
others before round 7 (changes that must be read). For each round: the
requests sent, how many were answered 304 (a conditional request GitHub does not count
against the rate limit) and how many counted; then the hourly arithmetic at
``forges.github.poll_s`` 60 (one round a minute).

    .venv/bin/python bench/forge.py [--prs 100] [--rounds 8]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aof import Fleet
from aof.forge.github import GitHubForge
from aof.forge.poller import ForgePoller
from tests.support.fakegithub import TOKEN, FakeGitHub, make_bare

REPO = "acme/api"
HOURLY = 5000  # GitHub's REST budget for a token, per hour


def git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def build(base: Path, fake: FakeGitHub, prs: int) -> tuple[Fleet, Path]:
    bare = make_bare(base / "remote.git", {"README.md": "# api\n"})
    fake.add_repo(REPO, bare)
    clone = base / "api"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    fleet = Fleet.init(base / "fleet", name="bench")
    root = fleet.root
    text = (root / "aof.yaml").read_text()
    text += f"forges:\n  github:\n    api_url: {fake.url}\n    poll_s: 60\n"
    (root / "aof.yaml").write_text(text)
    (root / "workflows" / "shipped.yaml").write_text("gates:\n  - pr: {merge: manual}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench", "--no-verify")
    fleet = Fleet(root, actor="human:bench", commit=False)
    fleet.registry.create("team", "core", {"name": "Core", "mission": "m", "ownership": "co"})
    fleet.registry.create(
        "project",
        "api",
        {
            "team": "core",
            "root_path": str(clone),
            "remote_url": str(bare),
            "repo": REPO,
            "workflow": "shipped",
        },
    )
    for i in range(prs):
        t = fleet.create_task(f"Change {i}", project="api", ready=True)
        tok = str((fleet.claim(t.id, "coder-1").lease or {})["token"])
        tree = git(clone, "rev-parse", "main^{tree}")
        sha = git(clone, "commit-tree", tree, "-p", "main", "-m", f"change {i}")
        git(clone, "update-ref", f"refs/heads/aof/{t.id}", sha)
        fleet.complete(t.id, token=tok, summary="done")
        fake.add_check(REPO, sha, "unit", None, status="queued")  # CI registered, not run
    return fleet, bare


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aof-bench-forge-"))
    fake = FakeGitHub().start()
    try:
        fleet, _bare = build(base, fake, args.prs)
        poller = ForgePoller(fleet, logging.getLogger("bench"), forge=GitHubForge(fake.url, TOKEN))
        rows = []
        for n in range(1, args.rounds + 1):
            if n in (4, 7):  # CI finishes: on a tenth of the PRs, then on all the others
                done = 0 if n == 7 else len(fake.checks) - max(args.prs // 10, 1)
                for cid in sorted(fake.checks)[done:]:
                    fake.set_check(cid, status="completed", conclusion="success")
            fake.clear_log()
            poller.last_poll.clear()  # every PR due: one round a poll interval
            poller.round()
            sent = len(fake.requests)
            free = sum(1 for r in fake.requests if r.status == 304)
            rows.append((n, sent, free, sent - free))
        print(f"{args.prs} open pull requests, one poll round each:")
        print("round  requests  answered 304  counted")
        for n, sent, free, counted in rows:
            print(f"{n:>5}  {sent:>8}  {free:>12}  {counted:>7}")
        steady = rows[2:]
        sent = sum(r[1] for r in steady)
        counted = sum(r[3] for r in steady)
        mean = counted / len(steady)
        print(
            f"steady rounds ({len(steady)}): {sent} requests, at most "
            f"{max(r[1] for r in steady)} in a round; {counted} counted"
        )
        print(
            f"at poll_s 60, 60 such rounds an hour: {60 * mean:.0f} counted requests "
            f"({100 * 60 * mean / HOURLY:.1f} % of the {HOURLY} a token has)"
        )
        return 0
    finally:
        fake.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
