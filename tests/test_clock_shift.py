"""`make date-check` runs the suite with the machine's wall clock on another day. This proves
the shift really reaches this process and its children (else that run would prove nothing)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

SHIFT = os.environ.get("AOF_CLOCK_SHIFT_S")


@pytest.mark.skipif(not SHIFT, reason="only under `make date-check`")
def test_the_wall_clock_of_this_run_and_its_children_is_shifted(tmp_path: Path) -> None:
    shift = int(SHIFT or 0)
    probe = tmp_path / "probe"
    probe.write_text("x")
    real = probe.stat().st_mtime  # the kernel stamps files with the unshifted time
    assert abs(time.time() - real - shift) < 600
    child = subprocess.run(["date", "+%s"], capture_output=True, text=True, check=True)
    assert abs(int(child.stdout) - real - shift) < 600
    # Timeouts use the monotonic clock, which stays real.
    began = time.monotonic()
    time.sleep(0.05)
    assert time.monotonic() - began < 60


def test_file_ages_are_judged_on_the_file_systems_clock(root: Path) -> None:
    """A file written now is fresh by the file system's clock, whatever this process's wall
    clock says (a network share's server, or a machine whose clock was moved): the daemon's
    edit sweep and the janitor judge ages by it."""
    from aof.files.fsclock import fs_now

    fresh = root / "tasks" / "ready" / "fresh.md"
    fresh.write_text("x")
    assert 0 <= fs_now(root) - fresh.stat().st_mtime < 60
