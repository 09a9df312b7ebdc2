"""``aof worker``: the pool of RQ workers of one host, and its heartbeats.

The pool runs as many RQ workers as the host has slots, each a process of its own
(``python -m aof.runner.worker one``) listening on the host's queue ``aof:host:<slug>``, each
with a name of its own (``<host>.<n>.<random>``), so a worker restarted after a crash is
never refused by RQ for a name a dead one still holds. A worker that dies is started again
with a new name. Every 10 s the pool sends the host's heartbeat through the coordinator's
API: its workers, slots and slots in use.

Each worker executes one job at a time in a work horse RQ forks for it
(:func:`aof.runner.remote_run.run_job`). A worker whose pool is gone (killed) kills its
work horse's process group and exits at once; so does a work horse whose worker is gone:
a host that crashed leaves no run going without supervision, and its runs' leases lapse.
Redis going away does not end a run: RQ retries its connection, and aof's run reports go
to the API, not Redis.

Needs no fleet root: the Redis URL, the API's URL and the worker's token (``AOF_API_TOKEN``
or ``--token-file``) are all it is given. The Redis URL reaches the workers through
``AOF_REDIS_URL``, never their command line (it may hold a password).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..model.executors import queue_name

HEARTBEAT_S = 10.0


@dataclass
class Pool:
    """One host's workers (see the module docstring)."""

    host: str
    redis_url: str
    api_url: str
    token: str
    slots: int | None = None  # None: the host's capacity_slots, as the coordinator answers
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("aof.worker"))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        from .. import __version__
        from ..remote.client import RemoteFleet

        client = RemoteFleet(self.api_url, self.token)
        answer = client.host_heartbeat(
            self.host, workers=[], slots=0, slots_used=0, version=__version__
        )
        size = self.slots or int((answer or {}).get("capacity_slots") or 1)
        self.log.info(
            "aof worker %s: %d worker(s) on queue %s", self.host, size, queue_name(self.host)
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        next_beat = 0.0
        try:
            while not self.stopping.is_set():
                self._keep(size)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + HEARTBEAT_S
                    self._beat(client, size, __version__)
                self.stopping.wait(0.5)
        finally:
            self._stop_all()
            client.close()
        return 0

    def _keep(self, size: int) -> None:
        """Start workers up to ``size``; a dead one is replaced under a new name."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                code = proc.returncode
                self.log.warning("worker %s ended (exit %s); starting another", name, code)
                del self.procs[name]
        n = 0
        while len(self.procs) < size:
            n += 1
            name = f"{self.host}.{len(self.procs) + n}.{secrets.token_hex(3)}"
            env = {**os.environ, "AOF_REDIS_URL": self.redis_url}
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "aof.runner.worker", "one", self.host, name],
                env=env,
                stdin=subprocess.DEVNULL,
            )

    def _beat(self, client: Any, size: int, version: str) -> None:
        from ..errors import AofError

        try:
            client.host_heartbeat(
                self.host,
                workers=sorted(self.procs),
                slots=size,
                slots_used=self._busy(),
                version=version,
            )
        except AofError as exc:
            self.log.warning("heartbeat of host %s not sent: %s", self.host, exc)

    def _busy(self) -> int:
        """How many of this pool's workers run a job now (0 when Redis cannot say)."""
        try:
            from redis import Redis
            from rq import Worker

            conn = Redis.from_url(self.redis_url, socket_timeout=3, socket_connect_timeout=2)
            workers = Worker.all(connection=conn)
            return sum(1 for w in workers if w.name in self.procs and w.get_state() == "busy")
        except Exception:
            return 0

    def _stop_all(self) -> None:
        """SIGTERM each worker (a run in progress is stopped by its supervisor and
        reported as interrupted); SIGKILL what is left after 30 s."""
        for proc in self.procs.values():
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def one_worker(host: str, name: str) -> int:
    """One RQ worker of the pool, on the host's queue, until stopped."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisSlow
    from rq import Queue, Worker

    from .rqexec import serializer

    class AofWorker(Worker):
        """An RQ worker that keeps its job going while Redis is briefly away."""

        def maintain_heartbeats(self, job: Any) -> None:
            with contextlib.suppress(RedisDown, RedisSlow):
                super().maintain_heartbeats(job)

        def set_current_job_working_time(self, *args: Any, **kwargs: Any) -> None:
            with contextlib.suppress(RedisDown, RedisSlow):
                super().set_current_job_working_time(*args, **kwargs)

    conn = Redis.from_url(os.environ["AOF_REDIS_URL"], health_check_interval=10)
    queue = Queue(queue_name(host), connection=conn, serializer=serializer())
    worker = AofWorker([queue], connection=conn, name=name, serializer=serializer())
    threading.Thread(target=_orphan_watch, args=(worker,), daemon=True).start()
    worker.work(logging_level="WARNING", with_scheduler=False)
    return 0


def _orphan_watch(worker: Any) -> None:
    """The pool is gone (killed): kill the work horse's process group, then exit."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    horse = getattr(worker, "horse_pid", 0)
    if horse:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(horse), signal.SIGKILL)
    os._exit(70)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "one":
        sys.exit(one_worker(sys.argv[2], sys.argv[3]))
    sys.stderr.write("usage: python -m aof.runner.worker one HOST NAME\n")
    sys.exit(2)
