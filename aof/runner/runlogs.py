"""A run's logs for people: the normalized ``events.jsonl`` rendered line by line, its
tail, and the new lines of a live run as they come (``aof agent logs [-f]``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def render_event(line: str) -> str:
    """One events.jsonl line for people."""
    try:
        e = json.loads(line)
    except ValueError:
        return line
    ts = str(e.get("ts", ""))[11:19]
    kind = e.get("event")
    if kind == "text":
        return f"{ts} {e.get('text')}"
    if kind == "tool":
        return f"{ts} [{e.get('tool')}] {e.get('input') or ''}".rstrip()
    if kind == "usage":
        cost = f", ${e['cost_usd']:.4f}" if e.get("cost_usd") is not None else ""
        total = " (total)" if e.get("cumulative") else ""
        return f"{ts} usage{total}: {e.get('tokens_in')} in, {e.get('tokens_out')} out{cost}"
    rest = {k: v for k, v in e.items() if k not in ("ts", "event", "task", "attempt")}
    return f"{ts} {kind}: " + ", ".join(f"{k}={v}" for k, v in rest.items())


def tail_events(run_dir: Path, lines: int) -> str:
    """The run's last ``lines`` events, rendered."""
    try:
        text = (run_dir / "events.jsonl").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(render_event(x) for x in text.splitlines()[-lines:])


def follow(
    run_dir: Path, names: Sequence[str], *, raw: bool, poll_s: float = 0.25
) -> Iterator[str]:
    """The lines appended to the run's log files ``names`` from now on, until the run ends
    (its ``outcome.json`` is written); events rendered unless ``raw``."""
    offsets = {n: _size(run_dir / n) for n in names}
    while True:
        ended = (run_dir / "outcome.json").exists()
        for name in names:
            path = run_dir / name
            size = _size(path)
            if size > offsets[name]:
                with open(path, "rb") as fh:
                    fh.seek(offsets[name])
                    chunk = fh.read(size - offsets[name])
                offsets[name] = size
                for line in chunk.decode("utf-8", errors="replace").splitlines():
                    yield line if raw else render_event(line)
        if ended:
            return
        time.sleep(poll_s)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
