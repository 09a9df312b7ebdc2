"""``aof worker``: run the runs a coordinator places on this host (RQ on Redis)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click


@click.command("worker")
@click.option(
    "--host", "slug", required=True, metavar="SLUG", help="This host's slug (hosts/SLUG.md)."
)
@click.option(
    "--redis",
    "redis_url",
    envvar="AOF_REDIS_URL",
    required=True,
    metavar="URL",
    help="The coordinator's Redis, redis://[:PASSWORD@]HOST:PORT/DB ($AOF_REDIS_URL: a "
    "password given here shows in `ps`).",
)
@click.option(
    "--api",
    "api_url",
    envvar="AOF_API_URL",
    required=True,
    metavar="URL",
    help="The coordinator's API, http(s)://HOST:PORT ($AOF_API_URL).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Read the worker token from PATH (owner-only, chmod 600); default: $AOF_API_TOKEN.",
)
@click.option(
    "--slots",
    type=click.IntRange(1, 256),
    metavar="N",
    help="Runs at once (default: the host's capacity_slots, as the coordinator answers).",
)
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Where run folders are kept (default: ~/.aof/worker).",
)
def worker_cmd(
    slug: str,
    redis_url: str,
    api_url: str,
    token_file: Path | None,
    slots: int | None,
    work_dir: Path | None,
) -> None:
    """Run the runs a coordinator places on this host, as many at once as it has slots.

    Needs no fleet root: each run comes through Redis from the coordinator's queue
    aof:host:SLUG, and reports back through the coordinator's API (its logs, status and
    ending; the coder's own `aof task ...` calls go there too). The worker token comes from
    $AOF_API_TOKEN or --token-file (`aof host token SLUG` on the coordinator makes one).
    Sends the host's heartbeat every 10 s; stop it with SIGTERM (runs in progress are
    stopped, reported and retried).

    \b
    Example:
      AOF_API_TOKEN=$(cat ~/.aof/worker-token) aof worker --host mac-mini \\
        --redis redis://queue.internal:6379/0 --api http://coordinator.internal:8780
    """
    import logging

    from ..errors import ConfigError
    from ..runner.worker import Pool

    token = _token(token_file)
    if not token:
        raise ConfigError("aof worker: no worker token: set AOF_API_TOKEN or give --token-file")
    if work_dir is not None:
        os.environ["AOF_WORKER_DIR"] = str(work_dir.expanduser().resolve())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pool = Pool(host=slug, redis_url=redis_url, api_url=api_url, token=token, slots=slots)
    raise SystemExit(pool.run())


def _token(path: Path | None) -> str | None:
    """The worker token: from ``path`` (which must be the user's own, owner-only) or the
    environment."""
    from ..errors import ConfigError

    if path is None:
        return os.environ.get("AOF_API_TOKEN") or None
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"--token-file {path}: must be yours and owner-only (chmod 600)")
    return text or None
