"""How soon a command gate starts after the agent reports completion, through a real daemon.

Builds a fleet root with one project (a git repository), a workflow with one command gate
(`true`) and TASKS ready tasks for the demo coder, runs `aof daemon --until-idle`, then reads
each run's events and gate log: for each task, the time from the agent's report to the start
of the gate's command (which prints the time it started). The report lands between the
demo coder's commit and the end of its session (both stamped in the run's events.jsonl to
the hundredth of a second), so both are given: a bound on each side. Prints medians and
maxima.

    .venv/bin/python bench/gates.py [--tasks 12]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

AOF = [sys.executable, "-m", "aof"]
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def sh(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build(base: Path, tasks: int) -> Path:
    root = base / "fleet"
    sh(*AOF, "init", str(root))
    repo = base / "repo"
    repo.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("# app\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", *GIT_ID, "commit", "-qm", "initial", cwd=repo)
    text = (root / "aof.yaml").read_text().replace("\ndefaults:\n", "\ndefaults:\n  coder: demo\n")
    text += "coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: '0.1'}\n"
    text = text.replace("max_concurrent_gates: 2", "max_concurrent_gates: 4")
    (root / "aof.yaml").write_text(text)
    (root / "workflows" / "checked.yaml").write_text(
        "gates:\n  - name: tests\n    run: python3 -c 'import time; print(\"AT\", time.time())'\n"
    )
    sh("git", *GIT_ID, "add", "-A", cwd=root)
    sh("git", *GIT_ID, "commit", "-qm", "bench set-up", cwd=root)
    r = ["--root", str(root)]
    sh(*AOF, *r, "team", "create", "--slug", "core", "--name", "Core", "--mission", "m",
       "--ownership", "company")  # fmt: skip
    sh(*AOF, *r, "project", "create", "--team", "core", "--slug", "app", "--root-path",
       str(repo), "--workflow", "checked")  # fmt: skip
    for i in range(tasks):
        sh(*AOF, *r, "task", "create", f"Task {i}", "--project", "app", "--ready")
    return root


def stamp(text: object) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=12)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aof-bench-gates-"))
    try:
        root = build(base, args.tasks)
        env = {**os.environ, "AOF_ROOT": str(root)}
        subprocess.run(
            [*AOF, "daemon", "--until-idle", "--interval", "5", "--quiet"], env=env, check=True
        )
        after, before = [], []
        for run in sorted((root / "runs").glob("t-*/1")):
            events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
            at = {e["event"]: stamp(e["ts"]) for e in events}
            log = (run / "gates" / "tests.log").read_text()
            began = float(log.split("AT ", 1)[1].split()[0])
            # The report lands between the coder's commit and the end of its session.
            after.append(began - at["session_end"])
            before.append(began - at["tool"])
        print(f"{len(after)} command gates; daemon interval 5 s (it wakes on the report)")
        for what, xs in (("end of the reporting session", after), ("the agent's commit", before)):
            med, top = statistics.median(xs), max(xs)
            print(f"gate start - {what}: median {med:.2f} s, max {top:.2f} s")
        return 0
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(base)


if __name__ == "__main__":
    sys.exit(main())
