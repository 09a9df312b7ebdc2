"""Bringing the registry in line with what a host's hostd reports (``aof host sync``).

The host is matched by address, then slug, and created or updated; each remote project is
matched by ``ao_project_root`` then ``root_path`` and placed on the host; unknown ones are
created with ``register_missing`` (in ``team``). Projects placed on the host that it no longer
reports are listed as stale, and unplaced with ``prune``. Everything is one commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..files import cardfile
from ..model.task import slugify
from .writing import Record, changes_between, new_meta, unique_slug

if TYPE_CHECKING:
    from .entries import Registry


class _Sync:
    """One sync's changes so far: the audit records and the paths to commit."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.records: list[Record] = []
        self.paths: list[Path] = []


def sync_host(
    reg: Registry,
    base_url: str,
    profile: dict[str, Any],
    projects: list[dict[str, Any]],
    *,
    register_missing: bool = False,
    team: str | None = None,
    prune: bool = False,
) -> dict[str, Any]:
    """Sync the host at ``base_url`` (its ``profile`` and ``projects``) in one commit."""
    if register_missing and not team:
        raise ValidationError("--register-missing needs --team: the team new projects join")
    if team is not None:
        reg.get("team", team)
    with reg.lock:
        sync = _Sync(reg)
        host_slug = _sync_host_card(sync, base_url, profile)
        existing = reg.rows("project")
        placed, created, seen = _place_projects(
            sync, host_slug, existing, projects, register_missing, team
        )
        stale = sorted(
            str(r["slug"]) for r in existing if r.get("host") == host_slug and r["slug"] not in seen
        )
        if prune:
            noun = reg.noun("project")
            for slug in stale:
                entry = reg.get("project", slug)
                meta = {k: v for k, v in cardfile.copy_plain(entry.meta).items() if k != "host"}
                sync.paths.append(reg.write(entry, noun, slug, meta))
                sync.records.append(("project", slug, "updated", {"host": None}))
        if sync.records:
            reg.commit(sync.records, sync.paths, f"host {host_slug}: synced from {base_url}")
    return {
        "host": host_slug,
        "created": created,
        "placed": placed,
        "stale": stale,
        "pruned": stale if prune else [],
        "projects_reported": len(projects),
    }


def _sync_host_card(sync: _Sync, base_url: str, profile: dict[str, Any]) -> str:
    """Create or update the host card; its slug."""
    reg, noun = sync.reg, sync.reg.noun("host")
    hosts = reg.rows("host")
    match = next((h for h in hosts if h.get("address") == base_url), None) or next(
        (h for h in hosts if h["slug"] == profile.get("slug")), None
    )
    fields = {
        "name": str(profile.get("name") or profile["slug"]),
        "address": base_url,
        "platform": str(profile.get("platform") or "unknown"),
        "status": str(profile.get("status") or "healthy"),
        "capacity_slots": int(profile.get("capacity_slots") or 1),
    }
    if match is None:
        slug = slugify(str(profile["slug"]), 60) or "host"
        sync.paths.append(reg.write(None, noun, slug, new_meta(noun, slug, fields)))
        sync.records.append(("host", slug, "created", fields))
        return slug
    slug = str(match["slug"])
    entry = reg.get("host", slug)
    meta = {**cardfile.copy_plain(entry.meta), **fields}
    if meta != entry.meta:
        sync.paths.append(reg.write(entry, noun, slug, meta))
        sync.records.append(("host", slug, "updated", changes_between(entry.meta, meta)))
    return slug


def _place_projects(
    sync: _Sync,
    host_slug: str,
    existing: list[dict[str, Any]],
    projects: list[dict[str, Any]],
    register_missing: bool,
    team: str | None,
) -> tuple[list[str], list[str], set[str]]:
    """Place each reported project on the host, creating unknown ones if asked:
    (placed, created, every slug the host reported)."""
    reg, noun = sync.reg, sync.reg.noun("project")
    by_root: dict[str, str] = {}
    for row in existing:
        for key in ("ao_project_root", "root_path"):
            if row.get(key):
                by_root.setdefault(str(row[key]), str(row["slug"]))
    taken = set(reg.slugs("project"))
    placed: list[str] = []
    created: list[str] = []
    seen: set[str] = set()
    for remote in projects:
        roots = [str(remote.get(k)) for k in ("ao_project_root", "root_path") if remote.get(k)]
        slug = next((by_root[r] for r in roots if r in by_root), None)
        if slug is None:
            if not register_missing or not roots:
                continue
            base = slugify(str(remote.get("name") or remote.get("id") or "project"), 60)
            slug = unique_slug(base or "project", taken)
            fields = {
                "team": team,
                "root_path": str(remote.get("root_path") or roots[0]),
                "default_branch": str(remote.get("default_branch") or "main"),
                "remote_url": remote.get("remote_url"),
                "enabled": bool(remote.get("enabled", True)),
                "host": host_slug,
                "ao_project_root": remote.get("ao_project_root"),
            }
            sync.paths.append(reg.write(None, noun, slug, new_meta(noun, slug, fields)))
            sync.records.append(("project", slug, "created", fields))
            created.append(slug)
        else:
            entry = reg.get("project", slug)
            if entry.meta.get("host") != host_slug:
                meta = {**cardfile.copy_plain(entry.meta), "host": host_slug}
                sync.paths.append(reg.write(entry, noun, slug, meta))
                sync.records.append(("project", slug, "updated", {"host": host_slug}))
                placed.append(slug)
        seen.add(slug)
    return placed, created, seen
