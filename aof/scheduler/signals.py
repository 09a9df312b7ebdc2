"""Signals that wake the daemon, without taking a lock inside a signal handler.

Python runs a signal handler in the main thread between two of its bytecodes, wherever that
thread is: inside ``threading.Event.set`` (holding the event's lock) or inside a write to the
log. A handler that sets the same event then waits for a lock its own thread holds; and a
second SIGCHLD arriving while the first handler runs does exactly that. The daemon stopped
forever that way while holding git's lock, and every other thread waited behind it.

So a handler here only writes a byte to a pipe (no lock at the Python level); a small thread
reads the pipe and sets the event, and says which signal asked the daemon to stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .daemon import Daemon


def install(daemon: Daemon) -> SignalWake:
    """SIGTERM and SIGINT stop ``daemon`` after its current tick, SIGCHLD wakes its loop
    early, SIGUSR1 writes every thread's stack to stderr (a daemon that seems stuck says
    where). The handlers only set a flag and write to the relay's pipe."""
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)

    def stopped(name: str) -> None:
        daemon.log.info("received %s: stopping after this tick", name)
        daemon.stop()

    relay = SignalWake(daemon.wake, stopped)

    def stop(signum: int, _frame: Any) -> None:
        daemon.stopping = True
        relay.poke(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, lambda *_: relay.poke())
    return relay


class SignalWake:
    """Relays signals to ``wake`` (a ``threading.Event``) from a thread of its own."""

    def __init__(self, wake: threading.Event, on_stop: Callable[[str], None]) -> None:
        self.wake = wake
        self.on_stop = on_stop
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._thread = threading.Thread(target=self._relay, name="aof-signals", daemon=True)
        self._thread.start()

    def poke(self, signum: int = 0) -> None:
        """Called in a signal handler: one byte into the pipe (0: wake; else the signal that
        asks to stop). A full pipe already holds a wake-up; a closed one has no reader."""
        with contextlib.suppress(OSError):
            os.write(self._write, bytes([signum & 0xFF]))

    def _relay(self) -> None:
        while True:
            try:
                data = os.read(self._read, 512)
            except OSError:
                return
            if not data:
                return  # closed
            for signum in {b for b in data if b}:
                self.on_stop(signal.Signals(signum).name)
            self.wake.set()

    def close(self) -> None:
        """End the relay thread (it reads the end of the pipe) and close the pipe."""
        with contextlib.suppress(OSError):
            os.close(self._write)
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._read)
