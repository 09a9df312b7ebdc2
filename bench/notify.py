"""How soon a notification leaves a running daemon after its event.

Builds a fleet root whose aof.yaml routes `asked` to a `command:` channel that appends the
time it runs to a file, starts `aof daemon`, then, EVENTS times, claims a task and blocks it
on a question with the CLI (the `asked` event is queued by the CLI before it returns). For
each event: the time from the `aof task block` call's return (the event was queued before
it) and from its start (the event was queued after it) to the channel's run. Prints the
median and the maximum of each: the latency lies between them.

    .venv/bin/python bench/notify.py [--events 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AOF = [sys.executable, "-m", "aof"]
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
STAMP = "import sys, time; open(sys.argv[1], 'a').write(repr(time.time()) + chr(10))"


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aof-bench-notify-"))
    daemon = None
    try:
        root = base / "fleet"
        sh(*AOF, "init", str(root))
        stamps = base / "stamps"
        (base / "stamp.py").write_text(STAMP)
        with open(root / "aof.yaml", "a") as f:
            f.write(
                "notify:\n  channels:\n"
                f"    clock: 'command:{sys.executable} {base / 'stamp.py'} {stamps}'\n"
                "  rules:\n    - events: [asked]\n      channels: [clock]\n"
                "  storm_per_minute: 1000\n"
            )
        subprocess.run(["git", *GIT_ID, "commit", "-qam", "notify"], cwd=root, check=True)
        env = {**os.environ, "AOF_ROOT": str(root)}
        ids = [
            json.loads(sh(*AOF, "task", "create", f"T{i}", "--ready", "--json", env=env))["id"]
            for i in range(args.events)
        ]
        daemon = subprocess.Popen(
            [*AOF, "daemon", "--interval", "30", "--quiet"], env=env, start_new_session=True
        )
        time.sleep(3)  # let it start
        spans = []
        for tid in ids:
            claim = json.loads(sh(*AOF, "task", "claim", tid, "--agent", "a", "--json", env=env))
            agent = {**env, "AOF_TASK_ID": tid, "AOF_LEASE_TOKEN": claim["token"]}
            agent["AOF_ACTOR"] = "agent:a"
            began = time.time()
            sh(*AOF, "task", "block", "--question", "which one?", env=agent)
            spans.append((began, time.time()))
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if stamps.exists() and len(stamps.read_text().split()) >= len(ids):
                break
            time.sleep(0.1)
        sent = [float(x) for x in stamps.read_text().split()]
        after = [s - end for s, (_b, end) in zip(sent, spans, strict=True)]
        before = [s - began for s, (began, _e) in zip(sent, spans, strict=True)]
        print(f"{len(sent)} notifications through a command: channel")
        for what, xs in (("the reporting call's return", after), ("its start", before)):
            print(f"sent - {what}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s")
        return 0
    finally:
        if daemon is not None:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
