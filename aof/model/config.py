"""Finding the fleet root and reading ``aof.yaml``.

Precedence for the root: an explicit path (``--root``), then the ``AOF_ROOT`` value the front end
passes in, then the nearest directory upward from the working directory that holds
``aof.yaml``. Core code never reads the environment itself.

``aof.yaml`` is usually commented by hand, so it takes the round-trip YAML path; its parsed
form is cached under ``.aof/cache/`` keyed on the file's inode, size and mtime so a CLI call
does not pay for that parser when nothing changed.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ValidationError
from .reactions import validate_reactions

CONFIG_NAME = "aof.yaml"
CONFIG_SCHEMA = "aof/config/v1"

DEFAULTS: dict[str, Any] = {
    "schema": CONFIG_SCHEMA,
    "name": "fleet",
    "timezone": "UTC",
    "scheduler": {
        "interval_s": 30,
        "max_concurrent": 4,
        "lease_ttl_s": 900,
        "heartbeat_ttl_s": 300,
        "max_attempts": 3,
        "backoff": {"base_s": 60, "factor": 2.0, "max_s": 3600, "jitter": 0.25},
        "sweep_s": 60,
    },
    "git": {"commit": "each", "committer": None},
    "defaults": {"coder": None, "model": None, "workflow": None, "priority": "normal"},
    "coders": {},
    "workflow": {"max_rejections": 3, "max_concurrent_gates": 2},
    "runner": {
        "worktrees_dir": ".aof/worktrees",
        "stuck_notify_s": 600,
        "stuck_kill_s": 1800,
        "usage_pause_s": 3600,
        "kill_grace_s": 5,
        "context_stop_pct": 85,
        "tmux": False,
    },
    "forges": {"github": {"api_url": "https://api.github.com", "poll_s": 60}},
    "executor": {"kind": "local", "redis_url": None, "api_url": None},
    "hosts": {"down_after_s": 90},
}


def find_root(explicit: str | os.PathLike[str] | None, env_root: str | None, cwd: Path) -> Path:
    """Resolve the fleet root by the documented precedence, or raise ConfigError."""
    for given, origin in ((explicit, "--root"), (env_root, "AOF_ROOT")):
        if given:
            root = Path(given).expanduser().resolve()
            if not (root / CONFIG_NAME).is_file():
                raise ConfigError(f"{origin} {given}: not a fleet root (no {CONFIG_NAME} there)")
            return root
    here = cwd.resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise ConfigError(
        f"no fleet root found: no {CONFIG_NAME} in {here} or above "
        "(create one with `aof init DIR`, or pass --root / set AOF_ROOT)"
    )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class Config:
    """The fleet's configuration with defaults filled in."""

    __slots__ = ("data", "root")

    def __init__(self, root: Path, data: dict[str, Any] | None = None) -> None:
        self.root = root
        self.data = data if data is not None else copy.deepcopy(DEFAULTS)

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def scheduler(self) -> dict[str, Any]:
        return dict(self.data["scheduler"])

    @property
    def commit_mode(self) -> str:
        return str(self.data["git"]["commit"])

    @property
    def committer(self) -> dict[str, str] | None:
        c = self.data["git"].get("committer")
        return dict(c) if isinstance(c, dict) else None

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.data["defaults"])


def validate_config(data: dict[str, Any], where: str) -> None:
    """Raise ValidationError naming the field for anything wrong in aof.yaml."""

    def bad(key: str, msg: str) -> ValidationError:
        return ValidationError(f"{where}: {key}: {msg}")

    if data.get("schema", CONFIG_SCHEMA) != CONFIG_SCHEMA:
        raise bad("schema", f"must be {CONFIG_SCHEMA!r} (got {data.get('schema')!r})")
    tz = data.get("timezone", "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(tz))
    except Exception:
        raise bad("timezone", f"unknown IANA timezone {tz!r}") from None
    sched = data.get("scheduler", {})
    if not isinstance(sched, dict):
        raise bad("scheduler", f"must be a mapping (got {sched!r})")
    cap = sched.get("max_concurrent", 4)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise bad(
            "scheduler.max_concurrent",
            f"must be a whole number >= 0; 0 pauses all dispatch (got {cap!r})",
        )
    for key in (
        "interval_s",
        "lease_ttl_s",
        "heartbeat_ttl_s",
        "max_attempts",
        "sweep_s",
    ):
        if key in sched:
            value = sched[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise bad(f"scheduler.{key}", f"must be a number > 0 (got {value!r})")
    git = data.get("git", {})
    if not isinstance(git, dict):
        raise bad("git", f"must be a mapping (got {git!r})")
    if git.get("commit", "each") not in ("each", "batch", "off"):
        raise bad("git.commit", f"must be each, batch or off (got {git.get('commit')!r})")
    committer = git.get("committer")
    if committer is not None and not (
        isinstance(committer, dict) and {"name", "email"} <= set(committer)
    ):
        raise bad("git.committer", "must be a mapping with name and email")
    from .gitsync import validate_git_sync

    validate_git_sync(git, bad)
    for key in ("defaults", "coders", "workflow"):
        if key in data and not isinstance(data[key], dict):
            raise bad(key, f"must be a mapping (got {data[key]!r})")
    for name, coder in (data.get("coders") or {}).items():
        _validate_coder(name, coder, bad)
    cap = (data.get("workflow") or {}).get("max_rejections", 3)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise bad("workflow.max_rejections", f"must be a whole number >= 1 (got {cap!r})")
    gates = (data.get("workflow") or {}).get("max_concurrent_gates", 2)
    if isinstance(gates, bool) or not isinstance(gates, int) or gates < 1:
        raise bad("workflow.max_concurrent_gates", f"must be a whole number >= 1 (got {gates!r})")
    _validate_runner(data.get("runner", {}), bad)
    _validate_knowledge(data.get("knowledge", {}), bad)
    if data.get("forges") is not None:
        from .forges import validate_forges

        validate_forges(data["forges"], bad)
    validate_reactions(data.get("reactions"), bad)
    from .executors import validate_executor, validate_hosts

    validate_executor(data.get("executor", {}), bad)
    validate_hosts(data.get("hosts", {}), bad)
    if data.get("notify") is not None:
        from .notify import validate_notify

        validate_notify(data["notify"], bad)


def _validate_runner(runner: Any, bad: Any) -> None:
    """ValidationError (made by ``bad``) for anything wrong in ``runner``."""
    if not isinstance(runner, dict):
        raise bad("runner", f"must be a mapping (got {runner!r})")
    for key in ("stuck_notify_s", "stuck_kill_s", "usage_pause_s", "kill_grace_s"):
        value = runner.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad(f"runner.{key}", f"must be a number >= 0; 0 turns it off (got {value!r})")
    stop = runner.get("context_stop_pct")
    if stop is not None and (
        isinstance(stop, bool) or not isinstance(stop, int | float) or not 0 < stop <= 100
    ):
        raise bad(
            "runner.context_stop_pct",
            f"must be a number above 0 and at most 100, or null to never stop (got {stop!r})",
        )
    if not isinstance(runner.get("tmux", False), bool):
        raise bad("runner.tmux", f"must be true or false (got {runner['tmux']!r})")
    wdir = runner.get("worktrees_dir", ".aof/worktrees")
    if not isinstance(wdir, str) or not wdir.strip():
        raise bad("runner.worktrees_dir", f"must be a directory path (got {wdir!r})")


def _validate_coder(name: str, coder: Any, bad: Any) -> None:
    """ValidationError (made by ``bad``) for anything wrong in ``coders.<name>``."""
    if not isinstance(coder, dict):
        raise bad(f"coders.{name}", f"must be a mapping (got {coder!r})")
    command = coder.get("command")
    if command is not None and not (
        isinstance(command, str)
        or (isinstance(command, list) and command and all(isinstance(c, str) for c in command))
    ):
        raise bad(
            f"coders.{name}.command", f"must be a string or a list of strings (got {command!r})"
        )
    env = coder.get("env")
    if env is not None and not isinstance(env, dict):
        raise bad(f"coders.{name}.env", f"must be a mapping of names to values (got {env!r})")
    cap = coder.get("max_concurrent")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise bad(f"coders.{name}.max_concurrent", f"must be an integer >= 1 (got {cap!r})")
    for key in ("program", "adapter", "model"):
        value = coder.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad(f"coders.{name}.{key}", f"must be text (got {value!r})")
    passthrough = coder.get("env_passthrough")
    if passthrough is not None and not (
        isinstance(passthrough, list)
        and all(isinstance(n, str) and re.fullmatch(r"[A-Za-z_]\w*", n) for n in passthrough)
    ):
        raise bad(
            f"coders.{name}.env_passthrough",
            f"must be a list of variable names (got {passthrough!r})",
        )
    args = coder.get("args")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise bad(f"coders.{name}.args", f"must be a list of strings (got {args!r})")


def _validate_knowledge(section: Any, bad: Any) -> None:
    import re

    if not isinstance(section, dict):
        raise bad("knowledge", f"must be a mapping (got {section!r})")
    kinds = section.get("kinds") or {}
    if not isinstance(kinds, dict):
        raise bad("knowledge.kinds", f"must be a mapping of type to kinds (got {kinds!r})")
    for type_, names in kinds.items():
        if type_ not in ("source", "document", "fact"):
            raise bad(f"knowledge.kinds.{type_}", "unknown type (types: source, document, fact)")
        if not isinstance(names, list) or not all(
            isinstance(n, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,62}", n) for n in names
        ):
            raise bad(
                f"knowledge.kinds.{type_}",
                f"must be a list of lower-case words (letters, digits, '_') (got {names!r})",
            )
    sem = section.get("semantic") or {}
    if not isinstance(sem, dict):
        raise bad("knowledge.semantic", f"must be a mapping (got {sem!r})")
    if not isinstance(sem.get("enabled", False), bool):
        raise bad("knowledge.semantic.enabled", f"must be true or false (got {sem['enabled']!r})")
    embedder = sem.get("embedder", "m:f")
    if not isinstance(embedder, str) or ":" not in embedder:
        raise bad("knowledge.semantic.embedder", f"must be 'module:factory' (got {embedder!r})")
    for key, lo in (("weight", 0.0), ("min_similarity", -1.0)):
        value = sem.get(key, 0.5)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= 1:
            raise bad(
                f"knowledge.semantic.{key}", f"must be a number from {lo:g} to 1 (got {value!r})"
            )


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Parse a plain YAML mapping file (fast path when canonical), naming file and line on error."""
    from ..files import cardfile, yamlfast

    text, _ = cardfile.read_text(path)  # never through a link, never a FIFO; size-capped
    try:
        data: Any = yamlfast.load(text)
    except yamlfast.NotCanonical:
        data = cardfile.to_plain(cardfile.load_rt(text, path, first_line=1)) if text.strip() else {}
    if not isinstance(data, dict):
        raise ValidationError(f"{path}:1: must be a mapping of keys to values")
    return data


def load_config(root: Path) -> Config:
    """Read ``root/aof.yaml`` (cached by stamp), validate it and fill in defaults."""
    path = root / CONFIG_NAME
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing; is {root} a fleet root?") from None
    from .. import layout
    from ..files import cache as derived
    from ..files.stampcache import stamp_of

    stamp = stamp_of(st)
    cache = layout.cache(root, "config.json")

    cached = derived.read(cache)
    data: dict[str, Any] | None = None
    if isinstance(cached, dict) and cached.get("stamp") == stamp:
        data = cached.get("data")
    if data is None:
        try:
            data = read_yaml_file(path)
            validate_config(data, str(path))
        except ValidationError as exc:
            raise ConfigError(str(exc)) from None
        derived.write(cache, {"stamp": stamp, "data": data})
    return Config(root=root, data=_merge(DEFAULTS, data))
