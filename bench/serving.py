"""A command server of the benchmark's own, for timing served `aof` calls.

    with command_server(env) as served_env:
        subprocess.run([AOF, "task", "list"], env=served_env)

The server gets a socket directory of its own (so it is never the user's), is started by a
first call and waited for, and is stopped (SIGTERM) and its directory removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

AOF = str(Path(sys.executable).with_name("aof"))


@contextlib.contextmanager
def command_server(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with ``AOF_SERVER=1`` and a socket directory whose server is running."""
    where = tempfile.mkdtemp(prefix="aofb-", dir="/tmp")
    served = dict(env, AOF_SERVER="1", AOF_SERVER_DIR=where, AOF_SERVER_IDLE_S="3600")
    served.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed wheel runs
    try:
        # No server answers this call: it runs in its own process, then starts one.
        subprocess.run([AOF, "--version"], env=served, stdout=subprocess.DEVNULL, check=True)
        deadline = time.monotonic() + 30
        while not list(Path(where).glob("cli-*.sock")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no command server came up in {where}")
            time.sleep(0.05)
        yield served
    finally:
        for log in Path(where).glob("cli-*.log"):
            for line in log.read_text(encoding="utf-8").splitlines():
                if " started pid=" in line:
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(line.rsplit("=", 1)[1]), signal.SIGTERM)
        time.sleep(0.5)
        shutil.rmtree(where, ignore_errors=True)
