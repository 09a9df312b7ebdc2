"""A stand-in for a real coder CLI: replays a recorded transcript of its output format,
then does what the transcript says (writes hello.txt, commits it in its working directory)
and reports through the aof CLI like an agent. Installed as ``claude``, ``codex`` or
``aider`` by the tests; ``FAKE_MODE`` picks the ending:

- ``complete`` (default): edit, commit, ``aof task complete``;
- ``silent``: edit and commit, then exit 0 without reporting;
- ``limit``: replay the usage-limit transcript and exit 1;
- ``fill``: (claude) commit a step at a time, each assistant message's usage showing the
  context growing by 30,000 tokens, until it is stopped;
- ``interactive``: like a coder in a terminal (tmux mode): print a prompt and wait for
  typed lines (each is logged); ``finish`` makes it edit, commit and report, after which it
  waits at its prompt like a real one, for its supervisor to close the session.

Every run appends its argv to ``$FAKE_LOG`` (if set), so tests can check the flags;
``$FAKE_TRANSCRIPT`` (a file) replays that transcript instead of the coder's own.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    name = sys.argv[1]
    args = sys.argv[2:]
    mode = os.environ.get("FAKE_MODE", "complete")
    if os.environ.get("FAKE_LOG"):
        with open(os.environ["FAKE_LOG"], "a") as f:
            call = {"coder": name, "argv": args, "cwd": os.getcwd(), "files": os.listdir()}
            f.write(json.dumps(call) + "\n")
    if mode == "interactive":
        return interactive(name)
    if mode == "fill":
        return fill(name)
    recording = HERE / f"{name}-limit.jsonl" if mode == "limit" else next(HERE.glob(f"{name}.*"))
    if os.environ.get("FAKE_TRANSCRIPT"):
        recording = Path(os.environ["FAKE_TRANSCRIPT"])
    reset = str(int(time.time()) + 3600)  # the recorded reset time, moved to an hour ahead
    for line in recording.read_text().splitlines():
        print(line.replace("1795300200", reset), flush=True)
        time.sleep(0.01)
    if mode == "limit":
        return 1
    commit(name)
    if mode == "silent":
        return 0
    return report(name)


def fill(name: str) -> int:
    """Claude's stream-json as a long session fills its context (it never ends by itself)."""
    sid = "9c1e-fill-session"
    init = {"type": "system", "subtype": "init", "session_id": sid, "model": "claude-sonnet-4-5"}
    print(json.dumps(init), flush=True)
    ident = ["-c", f"user.name=fake {name}", "-c", "user.email=fake@example.com"]
    for step in range(1, 1000):
        Path(f"step-{step}.txt").write_text(f"step {step}\n")
        subprocess.run(["git", *ident, "add", "-A"], check=True)
        subprocess.run(["git", *ident, "commit", "-qm", f"{name}: step {step}"], check=True)
        usage = {
            "input_tokens": 6,
            "cache_creation_input_tokens": 4000,
            "cache_read_input_tokens": 16000 + 30000 * step,
            "output_tokens": 200,
        }
        text = f"Step {step} done: step-{step}.txt committed."
        message = {
            "id": f"msg_fill_{step}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}],
            "usage": usage,
        }
        line = {"type": "assistant", "message": message, "parent_tool_use_id": None}
        print(json.dumps({**line, "session_id": sid}), flush=True)
        time.sleep(0.3)
    return 0


def commit(name: str) -> None:
    Path("hello.txt").write_text(f"hello from {name}\n")
    ident = ["-c", f"user.name=fake {name}", "-c", "user.email=fake@example.com"]
    subprocess.run(["git", *ident, "add", "hello.txt"], check=True)
    subprocess.run(["git", *ident, "commit", "-qm", f"{name}: hello"], check=True)


def report(name: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "aof", "task", "complete", "--summary", f"{name} wrote hello.txt"]
    )
    return done.returncode


def interactive(name: str) -> int:
    print(f"fake {name} ready (tty: {sys.stdin.isatty()})", flush=True)
    for line in sys.stdin:
        typed = line.strip()
        if os.environ.get("FAKE_LOG"):
            with open(os.environ["FAKE_LOG"], "a") as f:
                f.write(json.dumps({"coder": name, "typed": typed}) + "\n")
        print(f"> {typed}", flush=True)
        if typed == "finish":
            commit(name)
            report(name)
            print("done; waiting for more", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
