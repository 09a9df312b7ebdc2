"""tmux mode: a run's coder in a tmux pane that people can attach to and type into.

Every fleet root has a private tmux server (``tmux -L aof-<hash of the root>``), so aof's
sessions never mix with a person's own and one ``tmux -L ... ls`` lists exactly the fleet's
agents. A run's session is named after its run (``<task-id>-<attempt>``).

The pane runs ``/bin/sh -c``: wait for the supervisor's go (a ``tmux wait-for`` channel, so
``pipe-pane`` is in place before the coder prints its first byte), run the coder, write its
exit status to ``exit_code`` in the run folder. The supervisor reads what the pane shows
from ``pane.log`` (``pipe-pane``), kills the pane's process tree to stop it, and settles the
run exactly as a headless one.

Standard library only: the supervisor imports this before the coder has started.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from ..coders.tmuxprogram import TmuxError, check_version, program
from ..files.atomic import write_text
from ..files.privatefiles import open_private

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_NOT_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TMUX_OWN = ("TMUX", "TMUX_PANE", "TERM", "COLORTERM")


def socket_name(root: Path) -> str:
    """The fleet root's private tmux socket (``tmux -L <name>``)."""
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return f"aof-{digest}"


def session_name(task_id: str, attempt: int) -> str:
    return _NOT_SAFE.sub("-", f"{task_id}-{attempt}")


def _clean_env() -> dict[str, str]:
    """Our own environment without the marks of an enclosing tmux (aof may be run from
    inside a person's tmux; the fleet's server is another one)."""
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


def tmux(socket: str, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        [program(), "-L", socket, *args],
        capture_output=True,
        text=True,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise TmuxError(f"tmux {args[0]}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc.stdout


def attach_argv(socket: str, session: str, *, read_only: bool = False) -> list[str]:
    return [program(), "-L", socket, "attach-session", *(["-r"] if read_only else []),
            "-t", session]  # fmt: skip


def info(run_dir: Path) -> dict[str, Any] | None:
    """The run's tmux record (``tmux.json``: socket, session, pane pid), if it ran in tmux."""
    try:
        data = json.loads((run_dir / "tmux.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def send(socket: str, session: str, text: str) -> None:
    """Type ``text`` into the session's pane, then Enter (line by line for several lines)."""
    for line in text.splitlines() or [""]:
        tmux(socket, "send-keys", "-t", session, "-l", "--", line)
        tmux(socket, "send-keys", "-t", session, "Enter")


def kill_session(socket: str, session: str) -> None:
    tmux(socket, "kill-session", "-t", session, check=False)


class Pane:
    """A coder running in a tmux pane, with the parts of ``subprocess.Popen`` the run's
    supervisor uses: ``pid`` (the pane's shell), ``wait``/``poll`` and ``returncode``."""

    def __init__(
        self,
        run_dir: Path,
        socket: str,
        session: str,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
    ) -> None:
        check_version()
        self.run_dir, self.socket, self.session = run_dir, socket, session
        self.exit_file = run_dir / "exit_code"
        self.log = run_dir / "pane.log"
        self.exit_file.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)  # an earlier run's, in a follow-up
        self.log.touch()
        self.returncode: int | None = None
        channel = f"go-{session}"
        # The coder's environment goes through a file only we can read, which the pane's
        # shell reads and removes: on tmux's command line (new-session -e) the lease token
        # would be in every local user's `ps`. TERM and TMUX stay tmux's own.
        env_file = run_dir / ".pane.env"
        fd = open_private(env_file)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for key, value in env.items():
                if key not in _TMUX_OWN and _NAME.fullmatch(key):
                    fh.write(f"export {key}={shlex.quote(value)}\n")
        inner = (
            f"{shlex.quote(program())} wait-for {shlex.quote(channel)}; "
            f". {shlex.quote(str(env_file))}; rm -f {shlex.quote(str(env_file))}; "
            f"{shlex.join(argv)}; "
            f"echo $? > {shlex.quote(str(self.exit_file))}"
        )
        # Nothing of the tmux server's own environment (whoever started it) reaches the
        # coder: exactly the run's environment, as headless, plus the terminal tmux gives.
        keep = " ".join(f'{k}="${k}"' for k in _TMUX_OWN)
        script = f"exec env -i {keep} /bin/sh -c {shlex.quote(inner)}"
        try:
            out = tmux(
                socket,
                "new-session", "-d", "-s", session, "-x", "200", "-y", "50", "-c", cwd,
                "-P", "-F", "#{pane_pid}", "/bin/sh", "-c", script,
            )  # fmt: skip
            self.pid = int(out.strip().splitlines()[-1])
            log = shlex.quote(str(self.log))
            tmux(socket, "pipe-pane", "-t", session, "-o", f"cat >> {log}")
            tmux(socket, "wait-for", "-S", channel)
        except (TmuxError, ValueError, IndexError):
            kill_session(socket, session)
            env_file.unlink(missing_ok=True)
            raise
        record = {"socket": socket, "session": session, "pane_pid": self.pid}
        write_text(run_dir / "tmux.json", json.dumps(record) + "\n")

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            os.kill(self.pid, 0)
            return None
        except ProcessLookupError:
            pass
        except PermissionError:
            return None
        try:
            self.returncode = int(self.exit_file.read_text().strip())
        except (OSError, ValueError):
            self.returncode = -15  # the pane's shell was killed before it could say
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["tmux", self.session], timeout or 0)
            time.sleep(0.05)

    def close(self) -> None:
        kill_session(self.socket, self.session)


class PaneOutput:
    """``pane.log`` read as it grows, line by line, without terminal escape sequences (a
    stream for the supervisor's output pump). ``readline`` returns ``b""`` once the pane
    is gone and everything it printed was read."""

    def __init__(self, pane: Pane) -> None:
        self.pane = pane
        self.fh = open(pane.log, "rb")  # noqa: SIM115 (closed at the end of the stream)
        self.buffer = b""

    def readline(self) -> bytes:
        drained_at: float | None = None
        while True:
            nl = self.buffer.find(b"\n")
            if nl >= 0:
                line, self.buffer = self.buffer[: nl + 1], self.buffer[nl + 1 :]
                return clean(line)
            chunk = self.fh.read(65536)
            if chunk:
                self.buffer += chunk.replace(b"\r\n", b"\n")
                continue
            if self.pane.poll() is not None:
                # The pane is gone; give pipe-pane's cat a moment to write its last bytes.
                if drained_at is None:
                    drained_at = time.monotonic()
                elif time.monotonic() - drained_at > 0.3:
                    rest, self.buffer = self.buffer, b""
                    if rest:
                        return clean(rest + b"\n")
                    self.fh.close()
                    return b""
            time.sleep(0.05)


def clean(raw: bytes) -> bytes:
    """A line of terminal output as text: escape sequences and carriage returns removed."""
    text = _ANSI.sub(b"", raw)
    if b"\r" in text:  # a line redrawn in place: what was drawn last
        text = text.rstrip(b"\n").split(b"\r")[-1] + b"\n"
    return text
