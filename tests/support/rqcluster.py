"""A coordinator and two worker hosts on loopback, all real processes: the fleet root with
its daemon and `aof serve`, a redis-server of the test's own, and `aof worker` for hosts h1
and h2, each with its own clone of its project (bare repositories as remotes) and its own
home (where its worktrees go)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aof import Fleet
from aof.fleetapi import mint_worker_token

from ..conftest import git, set_default_coder, sub_env
from .redisserver import RedisServer, free_port

SERVE_TOKEN = "serve-token-rq-0123456789abcdef"
GIT_ID = ("-c", "user.name=t", "-c", "user.email=t@t")
HOSTS = {"h1": "p1", "h2": "p2"}  # host -> the project placed on it


def aof(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "aof", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=sub_env(AOF_ACTOR="human:tester"),
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


class Cluster:
    def __init__(self, tmp: Path, redis: RedisServer, *, lease_ttl_s: int = 900) -> None:
        self.tmp, self.redis = tmp, redis
        self.root = Fleet.init(tmp / "fleet", actor="human:tester").root
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Any] = {}
        self._configure(lease_ttl_s)
        self._register()
        fleet = Fleet(self.root, actor="human:tester")
        self.worker_tokens = {h: mint_worker_token(fleet, h) for h in HOSTS}

    def _configure(self, ttl: int) -> None:
        path = self.root / "aof.yaml"
        text = path.read_text()
        text = text.replace("lease_ttl_s: 900", f"lease_ttl_s: {ttl}")
        text = text.replace("base_s: 60", "base_s: 1")
        text += (
            f"executor: {{kind: rq, redis_url: '{self.redis.url}', api_url: '{self.api}'}}\n"
            "hosts: {down_after_s: 4}\n"
            "coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: '0.5'}\n"
        )
        path.write_text(text)
        git(self.root, *GIT_ID, "commit", "-qam", "rq executor")
        set_default_coder(self.root)

    def _register(self) -> None:
        aof(
            self.root,
            *("team", "create", "--slug", "eng", "--name", "Eng", "--mission", "Build"),
            *("--ownership", "company", "--business-priority", "50"),
        )
        for host, project in HOSTS.items():
            aof(
                self.root,
                *("host", "create", "--slug", host, "--name", host, "--address", "127.0.0.1"),
                *("--platform", "linux", "--capacity-slots", "2"),
            )
            clone = self.host_dir(host) / "src" / project
            bare = self.tmp / "remotes" / f"{project}.git"
            bare.parent.mkdir(exist_ok=True)
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
            seed = self.tmp / "seed" / project
            seed.mkdir(parents=True)
            git(seed, "init", "-q", "-b", "main")
            (seed / "README.md").write_text(f"# {project}\n")
            git(seed, "add", "-A")
            git(seed, *GIT_ID, "commit", "-qm", "start")
            git(seed, "push", "-q", str(bare), "main")
            clone.parent.mkdir(parents=True)
            subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
            aof(
                self.root,
                *("project", "create", "--slug", project, "--team", "eng"),
                *("--root-path", str(clone), "--host", host),
            )

    def host_dir(self, host: str) -> Path:
        return self.tmp / "hosts" / host

    # --- processes ----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        if name in self.logs:
            self.logs[name].close()  # a restart: its process was stopped first
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=sub_env(**env)
        )

    def start_serve(self) -> None:
        argv = [sys.executable, "-m", "aof", "--root", str(self.root), "serve"]
        self._spawn(
            "serve",
            [*argv, "--port", str(self.port)],
            AOF_SERVE_TOKEN=f"{SERVE_TOKEN}=human:ops",
            AOF_ACTOR="human:ops",
        )
        self.wait(lambda: self._answers(), 30, "aof serve to answer")

    def _answers(self) -> bool:
        import httpx

        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.api}/api/tasks", timeout=1).status_code in (200, 401)
        return False

    def start_worker(self, host: str) -> None:
        home = self.host_dir(host) / "home"
        home.mkdir(parents=True, exist_ok=True)
        self._spawn(
            f"worker-{host}",
            [sys.executable, "-m", "aof", "worker", "--host", host, "--slots", "2"],
            AOF_API_TOKEN=self.worker_tokens[host],
            AOF_API_URL=self.api,
            AOF_REDIS_URL=self.redis.url,
            AOF_WORKER_DIR=str(self.host_dir(host) / "worker"),
            HOME=str(home),
        )

    def start_daemon(self, *args: str) -> None:
        argv = [sys.executable, "-m", "aof", "--root", str(self.root), "daemon"]
        self._spawn("daemon", [*argv, "--interval", "0.3", "--quiet", *args])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.logs[name].close()

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.tails()}")

    def tails(self) -> str:
        out = []
        for name in self.procs:
            text = (self.tmp / f"{name}.log").read_text(errors="replace")[-2500:]
            out.append(f"--- {name}.log\n{text}")
        daemon_log = self.root / "runs" / "daemon.log"
        if daemon_log.exists():
            out.append("--- daemon.log\n" + daemon_log.read_text()[-2500:])
        return "\n".join(out)

    # --- what happened --------------------------------------------------------------------

    def fleet(self) -> Fleet:
        return Fleet(self.root, actor="human:tester")

    def state(self, task_id: str) -> str:
        return self.fleet().get_task(task_id).state.value

    def audit(self) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for path in sorted((self.root / "audit").rglob("*.jsonl"))
            for line in path.read_text().splitlines()
        ]

    def report(self, run_id: str) -> dict[str, Any]:
        path = self.root / ".aof" / "run-reports" / f"{run_id}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data
