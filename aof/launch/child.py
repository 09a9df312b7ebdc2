"""The forked child of a call: become the caller's process, then run the command.

The child takes the caller's standard streams (passed as descriptors), working directory,
umask, environment and arguments, and the signal dispositions a fresh Python has; its text
streams are made again over the new descriptors with the caller's encodings, and line
buffered as Python makes them (stdout on a terminal, stderr always). It is the leader of a
process group of its own, so a signal the caller forwards reaches the command's children
(git, an editor) as a terminal's would.
"""

from __future__ import annotations

import atexit
import io
import os
import signal
import sys
import threading
from typing import Any, NoReturn


def become(request: dict[str, Any], fds: list[int]) -> None:
    """Make this process the caller's (see the module docstring)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    _streams(request["streams"])


def run() -> NoReturn:
    """Run the CLI with this process's arguments and exit as the command did."""
    from ..cli import main

    code: object = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    finish(code)


def finish(code: object) -> NoReturn:
    """Exit with ``code`` as an interpreter would (its non-daemon threads joined, its exit
    handlers run, its streams flushed; a code that is not a number printed and 1), but
    without tearing down every module the server imported: that alone costs ~20 ms."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # as Python exits when it cannot flush stdout
    os._exit(status & 0xFF)


def _streams(settings: list[tuple[str | None, str | None]]) -> None:
    made = []
    for fd, (encoding, errors) in enumerate(settings):
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        buffered: Any = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        line = fd == 2 or (fd == 1 and raw.isatty())
        made.append(
            io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line)
        )
    sys.stdin, sys.stdout, sys.stderr = made
