"""Sending one message to one channel: Apprise URLs, ``file:`` and ``command:``.

Secrets stay out of everything aof writes: ``${VAR}`` in a channel is expanded from the
environment only here, at send time; a channel is shown as its scheme and host at most
(:func:`redact`); and an error text is scrubbed of every expanded value and every part of
the URL past its host (:func:`Sent.error`) before it reaches a log or a file.

Apprise is imported on the first send to an Apprise URL (never by the hook, never by a CLI
call that sends nothing). Each send names a timeout: a channel that hangs costs at most
:data:`TIMEOUT_S` of the delivery worker's time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import layout
from ..model.notify import (
    VAR_RE,
    apprise_problem,
    captured_apprise_log,
    channel_kind,
    import_apprise,
)

TIMEOUT_S = 30.0
ERROR_MAX = 300
NOTIFY_TYPES = {"info": "info", "warning": "warning", "urgent": "failure"}


@dataclass
class Sent:
    """The result of one send: ``ok``, or the reason it failed (scrubbed of secrets)."""

    ok: bool
    reason: str = ""
    secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def error(self) -> str | None:
        return None if self.ok else scrub(self.reason, self.secrets)


def redact(spec: str) -> str:
    """A channel as it may be shown: ``json://127.0.0.1:8080``, ``ntfy://…``, ``file:x``,
    ``command:notify-send`` (the program only); never a password, token, path or topic."""
    kind = channel_kind(spec)
    if kind == "file":
        return spec
    if kind == "command":
        words = spec[len("command:") :].split()
        return f"command:{os.path.basename(words[0]) if words else ''}"
    scheme, sep, rest = spec.partition("://")
    if not sep:
        return "(not a URL)"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if VAR_RE.search(host) or not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host or "-"):
        host = "…"
    looks_like_host = "." in host or ":" in host or host == "localhost"
    return f"{scheme}://{host if looks_like_host else '…'}"


def expand(spec: str, environ: Mapping[str, str]) -> tuple[str | None, list[str], str | None]:
    """(``spec`` with each ``${VAR}`` replaced, the values put in, the first missing
    variable's name or None)."""
    values: list[str] = []
    missing: list[str] = []

    def put(m: re.Match[str]) -> str:
        value = environ.get(m.group(1))
        if value is None or value == "":
            missing.append(m.group(1))
            return ""
        values.append(value)
        return value

    out = VAR_RE.sub(put, spec)
    return (None, values, missing[0]) if missing else (out, values, None)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any of ``secrets`` in it, cut to :data:`ERROR_MAX` characters."""
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text[:ERROR_MAX]


def _url_secrets(url: str) -> list[str]:
    """The parts of ``url`` past its host: user, password, path segments, query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.username or "", parts.password or "", parts.path, parts.query]
    found += [p for p in re.split(r"[/&=?]", f"{parts.path}?{parts.query}") if p]
    found.append(url)
    return [s for s in found if s]


def send(
    name: str,
    spec: str,
    title: str,
    body: str,
    ev: Mapping[str, Any],
    *,
    root: Path,
    environ: Mapping[str, str],
) -> Sent:
    """Send one message (``title``, ``body``; ``ev``: the event or a digest's summary) to
    channel ``name`` whose URL is ``spec``. Never raises for a failed delivery."""
    url, values, missing = expand(spec, environ)
    if url is None:
        return Sent(False, f"channel {name}: environment variable {missing} is not set")
    secrets = [*values, *_url_secrets(url)]
    kind = channel_kind(url)
    try:
        if kind == "file":
            return _to_file(root, url[len("file:") :].strip(), title, body, ev)
        if kind == "command":
            result = _to_command(url[len("command:") :], title, body, ev, root, environ)
        else:
            result = _to_apprise(url, title, body, str(ev.get("severity") or "info"))
    except Exception as exc:  # a channel's own failure is a failed delivery, never a crash
        result = Sent(False, f"{type(exc).__name__}: {exc}")
    result.secrets = secrets
    return result


def _to_file(root: Path, rel: str, title: str, body: str, ev: Mapping[str, Any]) -> Sent:
    base = layout.private(root).resolve()
    path = (base / rel).resolve()
    if base not in path.parents:
        return Sent(False, f"file:{rel}: not inside .aof/")
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {**{k: v for k, v in ev.items() if k != "fp"}, "subject": title, "message": body}
    data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return Sent(True)


def _to_command(
    line: str,
    title: str,
    body: str,
    ev: Mapping[str, Any],
    root: Path,
    environ: Mapping[str, str],
) -> Sent:
    import shlex

    argv = shlex.split(line)
    env = dict(environ)
    for key in ("event", "severity", "task", "title", "reason", "hint", "team", "project"):
        env[f"AOF_{key.upper()}"] = str(ev.get(key) or "")
    env["AOF_EVENT_TITLE"] = title
    env["AOF_ROOT"] = str(root)
    try:
        proc = subprocess.run(
            argv,
            input=body.encode("utf-8"),
            capture_output=True,
            env=env,
            cwd=root,
            timeout=TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        return Sent(False, f"command {argv[0]!r} not found")
    except subprocess.TimeoutExpired:
        return Sent(False, f"command {argv[0]!r} ran longer than {TIMEOUT_S:g} s")
    if proc.returncode != 0:
        said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return Sent(False, f"exit {proc.returncode}" + (f": {said[-1]}" if said else ""))
    return Sent(True)


def _to_apprise(url: str, title: str, body: str, severity: str) -> Sent:
    problem = apprise_problem(url)
    if problem is not None:
        return Sent(False, problem)
    apprise = import_apprise()
    with captured_apprise_log() as said:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:  # pragma: no cover - apprise_problem said it was fine
            return Sent(False, "not a URL Apprise can send to")
        kind = apprise.NotifyType(NOTIFY_TYPES.get(severity, "info"))
        ok = plugin.notify(body=body, title=title, notify_type=kind)
    if ok:
        return Sent(True)
    return Sent(False, said[-1] if said else "the service refused the message")


__all__ = ["Sent", "expand", "redact", "scrub", "send"]
