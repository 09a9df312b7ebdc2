"""``aof serve`` as a real process for tests: started on a port (``0``: one the OS picks),
its two banner lines read (where it listens; how to sign in), the rest of its stderr read to
the end by a thread so the pipe never fills, stopped with SIGTERM."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path


class Served:
    """``aof --root ROOT serve --port PORT ARGS...`` with ``env`` (tokens go there, never argv)."""

    def __init__(self, root: Path, *args: str, env: dict[str, str], port: int = 0) -> None:
        self.argv = [sys.executable, "-m", "aof", "--root", str(root), "serve"]
        self.argv += ["--port", str(port), *args]
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stderr is not None
        self.banner = [self.proc.stderr.readline(), self.proc.stderr.readline()]
        found = re.search(r"127\.0\.0\.1:(\d+)", self.banner[0])
        assert found, self.banner
        self.port = int(found.group(1))
        assert port in (0, self.port), self.banner
        self.url = f"http://127.0.0.1:{self.port}"
        self.rest: list[str] = []
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _read_rest(self) -> None:
        assert self.proc.stderr is not None
        self.rest.extend(self.proc.stderr)

    def stop(self) -> float:
        """SIGTERM, wait for the exit; the seconds it took."""
        started = time.monotonic()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._drain.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return time.monotonic() - started
