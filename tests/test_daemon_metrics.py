"""``aof daemon --metrics-port``: Prometheus text from a real daemon, scraped over HTTP."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import Cli, set_default_coder, sub_env

pytestmark = pytest.mark.slow


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_a_daemon_serves_its_metrics_on_loopback(aof_bin: str, run: Cli, root: Path) -> None:
    set_default_coder(root)
    tid = run.json("task", "create", "Measured", "--ready")["id"]
    proc = subprocess.Popen(
        [aof_bin, "--root", str(root), "daemon", "--interval", "0.2", "--metrics-port", "0"],
        env=sub_env(AOF_DEMO_SECONDS="0.1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        log = root / "runs" / "daemon.log"
        port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not port:
            m = re.search(
                r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                log.read_text() if log.exists() else "",
            )
            port = int(m.group(1)) if m else 0
            time.sleep(0.1)
        assert port, "the daemon did not say where its metrics are"
        text = ""
        while time.monotonic() < deadline:
            text = scrape(port)
            done = 'aof_tasks{project="",state="done",team=""} 1.0' in text
            if done and 'aof_run_outcomes_total{coder="demo",outcome="completed"} 1.0' in text:
                break
            time.sleep(0.2)
        assert 'aof_tasks{project="",state="done",team=""} 1.0' in text, text
        assert 'aof_dispatches_total{kind="dispatch"} 1.0' in text
        assert re.search(r"aof_tick_seconds_count \d+", text)
        assert 'aof_run_outcomes_total{coder="demo",outcome="completed"} 1.0' in text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    del tid
