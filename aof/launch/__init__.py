"""The ``aof`` command's entry point: the CLI in this process, or handed to a command server.

Starting Python and importing the CLI costs more than most calls do. With ``AOF_SERVER=1``
a call goes to the user's command server instead (:mod:`aof.launch.server`): a process that
imported the CLI once and forks a child for each call, which takes the caller's arguments,
working directory, environment, umask and standard streams, runs the command exactly as
this process would, and exits with its code. This module and :mod:`aof.launch.client`
import nothing heavier than ``_socket`` so that handing a call over stays cheap.

When no server answers, the call runs here and then starts one; when the server's code is
older than the installed aof it declines, stops, and the call runs here. Commands that run
for long or need the terminal as their own (``daemon``, ``mcp``, ``serve``, ``worker``,
``top``, ``agent attach``, ``board --watch``, ``agent logs --follow``) always run in this
process.
"""

from __future__ import annotations

import os
import sys

# A call naming any of these words runs in this process: long-running commands (their
# signals and lifetime belong to whoever started them, and a served child would keep
# watching the fleet with what it started with) and those that take over the terminal.
IN_PROCESS = frozenset(
    {"daemon", "mcp", "serve", "worker", "top", "attach", "--watch", "--follow", "-f"}
)


def main() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    wanted = os.environ.get("AOF_SERVER") == "1" and not IN_PROCESS.intersection(argv)
    if wanted:
        from .client import call

        code = call(argv)
        if code is not None:
            sys.exit(code)
    from ..cli import main as run_here

    try:
        run_here()
    finally:
        if wanted:
            from .client import start_server

            start_server()
