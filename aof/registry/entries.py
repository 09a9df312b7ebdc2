"""Registry mutations and reads, through the same pipeline as tasks.

Every change validates the card, checks references (an unknown team, host or project is
refused), writes atomically (:mod:`aof.registry.writing`, on :mod:`aof.files.cardfile`),
appends one audit record per entity changed and makes one commit. Registry changes hold
``.aof/locks/registry.lock`` so a reference check and the write it guards cannot interleave
with another process's delete. Host sync (:mod:`aof.registry.hostsync`), registering
discovered projects (:mod:`aof.registry.enroll`) and cascade deletes
(:mod:`aof.registry.cascade`) have modules of their own.

The registry takes a typed view of its fleet (:class:`aof.store.context.FleetContext`), never
the service layer above it; :class:`RegistryContext` is that view with the registry itself,
what snapshots and knowledge take.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .. import layout
from ..errors import InvalidTransition, NotFound, ValidationError
from ..files import cardfile
from ..files.locks import lock_for
from ..files.stampcache import StampCache
from ..model.task import TERMINAL, State
from ..store.context import FleetContext
from . import NOUNS
from .cascade import refers, remove_dependents
from .spec import SLUG_RE, Noun, ordered, references, validate
from .writing import Record, changes_between, commit_records, new_meta, store

CACHE_VERSION = 1


class Entry:
    """One registry card as read from disk."""

    __slots__ = ("card", "noun", "path", "slug")

    def __init__(self, noun: Noun, slug: str, path: Path, card: cardfile.Card) -> None:
        self.noun, self.slug, self.path, self.card = noun, slug, path, card

    @property
    def meta(self) -> dict[str, Any]:
        return self.card.meta


class RegistryContext(FleetContext, Protocol):
    """A fleet's typed view (:class:`FleetContext`) with its registry."""

    @property
    def registry(self) -> Registry: ...


class Registry:
    """Teams, projects, hosts, schedules and agents of one fleet root."""

    def __init__(self, fleet: FleetContext) -> None:
        self.fleet = fleet
        self.root = fleet.root
        self.lock = lock_for(layout.lock(self.root, "registry.lock"))
        # Parsed cards by kind, in ``.aof/cache/registry-<kind>.bin`` (read afresh each time).
        self._caches = {
            name: StampCache(self.root, f"registry-{name}.bin", CACHE_VERSION, memo=False)
            for name in NOUNS
        }

    # --- reading ------------------------------------------------------------------------

    @staticmethod
    def noun(name: str) -> Noun:
        try:
            return NOUNS[name]
        except KeyError:
            raise ValidationError(f"unknown kind {name!r} (kinds: {', '.join(NOUNS)})") from None

    def path(self, noun: Noun, slug: str) -> Path:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            raise ValidationError(
                f"{noun.name} slug {slug!r}: lower-case letters, digits and '-' only "
                "(no '/', '..' or spaces)"
            )
        return self.root / noun.dir / f"{slug}.md"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def get(self, kind: str, slug: str) -> Entry:
        """The entry ``kind``/``slug``; NotFound if there is none, ValidationError if broken."""
        noun = self.noun(kind)
        path = self.path(noun, slug)
        try:
            card = cardfile.read_in_root(path, self.rel(path))
        except FileNotFoundError:
            raise NotFound(f"no {noun.name} {slug!r} ({noun.dir}/{slug}.md)") from None
        entry = Entry(noun, slug, path, card)
        self._check(entry)
        return entry

    def exists(self, kind: str, slug: str) -> bool:
        return self.path(self.noun(kind), slug).is_file()

    def _check(self, entry: Entry) -> None:
        rel = self.rel(entry.path)
        validate(entry.noun, entry.meta, rel, entry.card.line_of)
        if entry.meta.get("slug") != entry.slug:
            raise ValidationError(
                f"{rel}:{entry.card.line_of('slug')}: slug: {entry.meta.get('slug')!r} does not "
                f"match the file name {entry.slug!r}"
            )

    def rows(self, kind: str, problems: list[str] | None = None) -> list[dict[str, Any]]:
        """Every readable entry of ``kind`` (its frontmatter plus ``path``), sorted by slug.

        Parsed cards are cached in ``.aof/cache/registry-<kind>.bin`` keyed on each file's
        inode, size and mtime; broken cards go to ``problems`` and are skipped.
        """
        noun = self.noun(kind)
        directory = self.root / noun.dir
        listing = self._caches[noun.name].listing()
        out = []
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            names = []
        for name in names:
            if not name.endswith(".md") or name.startswith("."):
                continue
            path = directory / name
            rel = f"{noun.dir}/{name}"
            if path.is_symlink():
                if problems is not None:
                    problems.append(f"{rel}:1: (file): is a symlink; aof does not follow links")
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            result = listing.get(name, st, partial(self._parse, noun, name[:-3], path))
            assert result is not None  # _parse never gives None
            if "error" in result:
                if problems is not None:
                    problems.append(result["error"])
                continue
            out.append({**result["meta"], "path": rel})
        listing.finish()
        return out

    def _parse(self, noun: Noun, slug: str, path: Path) -> dict[str, Any]:
        """What :meth:`rows` caches of one card: ``{"meta": ...}`` or ``{"error": ...}``."""
        try:
            card = cardfile.read(path)
            self._check(Entry(noun, slug, path, card))
            return {"meta": card.meta}
        except (ValidationError, OSError) as exc:
            return {"error": str(exc).replace(str(self.root) + "/", "")}

    def slugs(self, kind: str) -> set[str]:
        noun = self.noun(kind)
        try:
            return {n[:-3] for n in os.listdir(self.root / noun.dir) if n.endswith(".md")}
        except FileNotFoundError:
            return set()

    # --- references ---------------------------------------------------------------------

    def _check_refs(self, noun: Noun, meta: dict[str, Any], where: str) -> None:
        for field, kind, target in references(noun, meta):
            if not self.exists(kind, target):
                raise ValidationError(
                    f"{where}: {field}: no {kind} {target!r} "
                    f"(create it with `aof {kind} create`, or see `aof {kind} list`)"
                )

    def referrers(self, kind: str, slug: str) -> list[tuple[str, str, str]]:
        """(kind, slug-or-task-id, field) of everything that refers to ``kind``/``slug``.

        Open tasks count (their ``team``/``project``); done and cancelled ones are history.
        """
        out = []
        for other in NOUNS.values():
            for f in other.fields:
                if f.ref != kind:
                    continue
                for row in self.rows(other.name):
                    if refers(row.get(f.name), slug):
                        out.append((other.name, str(row["slug"]), f.name))
        if kind in ("team", "project"):
            open_states = [s for s in State if s not in TERMINAL]
            for row in self.fleet.list_tasks(states=open_states):
                if row.get(kind) == slug:
                    out.append(("task", str(row["id"]), kind))
        return out

    # --- writing ------------------------------------------------------------------------

    def write(
        self,
        entry: Entry | None,
        noun: Noun,
        slug: str,
        meta: dict[str, Any],
        body: str | None = None,
    ) -> Path:
        """Validate ``meta`` and its references and write the card (new when ``entry`` is
        None, else a replacement of it); its path. The caller holds :attr:`lock` and commits
        (:meth:`commit`)."""
        meta = ordered(noun, meta)
        path = self.path(noun, slug)
        rel = self.rel(path)
        validate(noun, meta, rel, entry.card.line_of if entry else (lambda k: 1))
        self._check_refs(noun, meta, rel)
        store(path, rel, noun, meta, entry.card if entry else None, body)
        return path

    def commit(
        self,
        records: list[Record],
        paths: list[Path],
        message: str,
        reason: str | None = None,
    ) -> None:
        """One audit record per entity changed, then one commit (:func:`commit_records`)."""
        commit_records(self.fleet, records, paths, message, reason)

    def create(
        self, kind: str, slug: str, fields: dict[str, Any], body: str | None = None
    ) -> Entry:
        """Create ``kind``/``slug``; ValidationError for bad fields, unknown refs or clashes.

        A project that names no ``default_branch`` gets the branch its repository has checked
        out (``main``, ``master``, ...), else ``main``."""
        noun = self.noun(kind)
        if noun.name == "project" and not fields.get("default_branch") and fields.get("root_path"):
            from .discover import head_branch

            fields = {**fields, "default_branch": head_branch(str(fields["root_path"]))}
        meta = new_meta(noun, slug, fields)
        with self.lock:
            path = self.write(None, noun, slug, meta, body)
            self.commit(
                [(noun.name, slug, "created", changes_between({}, meta))],
                [path],
                f"{noun.name} {slug}: created",
            )
        return self.get(kind, slug)

    def create_many(self, kind: str, items: list[tuple[str, dict[str, Any]]]) -> list[Entry]:
        """Create several entries of ``kind`` in one commit; all are validated first."""
        noun = self.noun(kind)
        with self.lock:
            metas = []
            for slug, fields in items:
                meta = ordered(noun, new_meta(noun, slug, fields))
                path = self.path(noun, slug)
                validate(noun, meta, self.rel(path), lambda k: 1)
                self._check_refs(noun, meta, self.rel(path))
                if path.exists():
                    raise ValidationError(
                        f"{self.rel(path)}: a {noun.name} {slug!r} already exists"
                    )
                metas.append((slug, meta))
            paths = [self.write(None, noun, slug, meta) for slug, meta in metas]
            if paths:
                self.commit(
                    [(noun.name, s, "created", changes_between({}, m)) for s, m in metas],
                    paths,
                    f"{noun.name}: created {len(paths)} ({', '.join(s for s, _ in metas[:5])}"
                    + (", ..." if len(metas) > 5 else "")
                    + ")",
                )
        return [self.get(kind, slug) for slug, _ in metas]

    def discover(
        self,
        roots: list[Path],
        *,
        max_depth: int = 6,
        include_ao_shells: bool = False,
        register: bool = False,
        team: str | None = None,
    ) -> dict[str, Any]:
        """Find projects under ``roots``; with ``register``, add the new ones to ``team``
        (:func:`aof.registry.enroll.discover`)."""
        from .enroll import discover

        return discover(
            self,
            roots,
            max_depth=max_depth,
            include_ao_shells=include_ao_shells,
            register=register,
            team=team,
        )

    def sync_host(
        self,
        base_url: str,
        profile: dict[str, Any],
        projects: list[dict[str, Any]],
        *,
        register_missing: bool = False,
        team: str | None = None,
        prune: bool = False,
    ) -> dict[str, Any]:
        """Bring the registry in line with what a hostd reports, in one commit
        (:func:`aof.registry.hostsync.sync_host`)."""
        from .hostsync import sync_host

        return sync_host(
            self,
            base_url,
            profile,
            projects,
            register_missing=register_missing,
            team=team,
            prune=prune,
        )

    def update(self, kind: str, slug: str, changes: dict[str, Any]) -> Entry:
        """Set fields (a value of None removes the field); renaming needs no referrers."""
        noun = self.noun(kind)
        with self.lock:
            entry = self.get(kind, slug)
            meta = cardfile.copy_plain(entry.meta)
            new_slug = changes.get("slug") or slug
            for key, value in changes.items():
                if key in ("schema", "slug"):
                    continue
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            paths = [entry.path]
            if new_slug != slug:
                refs = self.referrers(kind, slug)
                if refs:
                    raise InvalidTransition(
                        f"{noun.name} {slug}: cannot rename while referred to by "
                        + ", ".join(f"{k} {s} ({f})" for k, s, f in refs)
                    )
                meta["slug"] = new_slug
                new_path = self.write(None, noun, new_slug, meta, entry.card.body)
                entry.path.unlink()
                paths.append(new_path)
            else:
                self.write(entry, noun, slug, meta)
            self.commit(
                [(noun.name, new_slug, "updated", changes_between(entry.meta, meta))],
                paths,
                f"{noun.name} {new_slug}: updated",
            )
        return self.get(kind, new_slug)

    def delete(self, kind: str, slug: str, *, cascade: bool = False) -> list[str]:
        """Delete ``kind``/``slug``; refused while referred to, unless ``cascade``.

        With ``cascade``, entries that cannot exist without it (a team's projects and
        schedules) are deleted too, and optional references to it are cleared. Open tasks
        always block: cancel or move them first. Returns what was deleted or changed.
        """
        noun = self.noun(kind)
        with self.lock:
            entry = self.get(kind, slug)
            refs = self.referrers(kind, slug)
            tasks = [r for r in refs if r[0] == "task"]
            if (refs and not cascade) or tasks:
                listed = ", ".join(f"{k} {s} ({f})" for k, s, f in refs[:20])
                more = f" and {len(refs) - 20} more" if len(refs) > 20 else ""
                hint = "cancel or move the open tasks first" if tasks else "or pass --cascade"
                raise InvalidTransition(
                    f"{noun.name} {slug} is referred to by {listed}{more}; {hint}"
                )
            records: list[Record] = []
            paths: list[Path] = []
            done: list[str] = []
            remove_dependents(self, noun, slug, records, paths, done)
            entry.path.unlink()
            paths.append(entry.path)
            records.append((noun.name, slug, "deleted", None))
            done.append(f"deleted {noun.name} {slug}")
            self.commit(
                records,
                paths,
                f"{noun.name} {slug}: deleted"
                + (f" with {len(done) - 1} dependent change(s)" if len(done) > 1 else ""),
            )
        return done

    # --- placements and overrides ---------------------------------------------------------

    def assign_host(self, project: str, host: str) -> Entry:
        """Place a project on a host (one host per project)."""
        if not self.exists("host", host):
            raise ValidationError(f"project {project}: host: no host {host!r}")
        return self.update("project", project, {"host": host})

    def clear_host(self, project: str) -> Entry:
        return self.update("project", project, {"host": None})

    def placements(self) -> list[dict[str, Any]]:
        return [
            {"project": r["slug"], "host": r["host"]} for r in self.rows("project") if r.get("host")
        ]

    def set_override(
        self,
        team: str,
        *,
        state: str | None = None,
        until: str | None = None,
        note: str | None = None,
        freeze: bool = False,
    ) -> Entry:
        """Force ``team`` into ``state`` (optionally until a time), or freeze it until ``until``."""
        from ..clock import format_time

        override: dict[str, Any] = {"mode": "freeze" if freeze else "force"}
        if not freeze:
            override["state"] = state
        if until is not None:
            override["until"] = until
        if note:
            override["note"] = note
        override["set_by"] = str(self.fleet.actor)
        override["set_at"] = format_time(self.fleet.clock.now())
        return self.update("team", team, {"override": override})

    def clear_override(self, team: str) -> Entry:
        entry = self.get("team", team)
        if "override" not in entry.meta:
            raise NotFound(f"team {team} has no override")
        return self.update("team", team, {"override": None})

    def overrides(self) -> list[dict[str, Any]]:
        return [
            {"team": r["slug"], **r["override"]} for r in self.rows("team") if r.get("override")
        ]
