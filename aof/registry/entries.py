"""Registry mutations and reads, through the same pipeline as tasks.

Every change validates the card, checks references (an unknown team, host or project is
refused), writes atomically (``aof.files.cardfile``), appends one audit record per entity
changed and makes one commit. Registry changes hold ``.aof/locks/registry.lock`` so a reference
check and
the write it guards cannot interleave with another process's delete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidTransition, NotFound, ValidationError
from ..files import cache as derived
from ..files import cardfile, yamlfast
from ..files.locks import lock_for
from ..model.task import TERMINAL, State
from . import NOUNS
from .spec import SLUG_RE, Noun, ordered, references, validate

if TYPE_CHECKING:
    from ..service.pipeline import FleetBase

CACHE_VERSION = 1


class Entry:
    """One registry card as read from disk."""

    __slots__ = ("card", "noun", "path", "slug")

    def __init__(self, noun: Noun, slug: str, path: Path, card: cardfile.Card) -> None:
        self.noun, self.slug, self.path, self.card = noun, slug, path, card

    @property
    def meta(self) -> dict[str, Any]:
        return self.card.meta


class Registry:
    """Teams, projects, hosts, schedules and agents of one fleet root."""

    def __init__(self, fleet: FleetBase) -> None:
        self.fleet = fleet
        self.root = fleet.root
        self.lock = lock_for(self.root / ".aof" / "locks" / "registry.lock")

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

        Parsed cards are cached in ``.aof/cache/registry-<kind>.json`` keyed on each file's
        inode, size and mtime; broken cards go to ``problems`` and are skipped.
        """
        noun = self.noun(kind)
        directory = self.root / noun.dir
        cache_path = self.root / ".aof" / "cache" / f"registry-{noun.name}.json"
        cached = derived.read(cache_path)
        ok = isinstance(cached, dict) and cached.get("v") == CACHE_VERSION
        cache = cached.get("entries", {}) if ok else {}
        fresh: dict[str, Any] = {}
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
            stamp = [st.st_ino, st.st_size, st.st_mtime_ns]
            hit = cache.get(name)
            if hit is not None and hit[:3] == stamp:
                result = hit[3]
            else:
                try:
                    card = cardfile.read(path)
                    self._check(Entry(noun, name[:-3], path, card))
                    result = {"meta": card.meta}
                except (ValidationError, OSError) as exc:
                    result = {"error": str(exc).replace(str(self.root) + "/", "")}
            fresh[name] = [*stamp, result]
            if "error" in result:
                if problems is not None:
                    problems.append(result["error"])
                continue
            out.append({**result["meta"], "path": rel})
        if fresh != cache:
            derived.write(cache_path, {"v": CACHE_VERSION, "entries": fresh})
        return out

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
                    value = row.get(f.name)
                    if value == slug or (isinstance(value, list) and slug in value):
                        out.append((other.name, str(row["slug"]), f.name))
        if kind in ("team", "project"):
            open_states = [s for s in State if s not in TERMINAL]
            for row in self.fleet.list_tasks(states=open_states):
                if row.get(kind) == slug:
                    out.append(("task", str(row["id"]), kind))
        return out

    # --- writing ------------------------------------------------------------------------

    def _write(
        self,
        entry: Entry | None,
        noun: Noun,
        slug: str,
        meta: dict[str, Any],
        body: str | None = None,
    ) -> Path:
        meta = ordered(noun, meta)
        path = self.path(noun, slug)
        rel = self.rel(path)
        validate(noun, meta, rel, entry.card.line_of if entry else (lambda k: 1))
        self._check_refs(noun, meta, rel)
        store(path, rel, noun, meta, entry.card if entry else None, body)
        return path

    def _commit(
        self,
        records: list[tuple[str, str, str, dict[str, Any] | None]],
        paths: list[Path],
        message: str,
        reason: str | None = None,
    ) -> None:
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
            path = self._write(None, noun, slug, meta, body)
            self._commit(
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
            paths = [self._write(None, noun, slug, meta) for slug, meta in metas]
            if paths:
                self._commit(
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
        """Find projects under ``roots``; with ``register``, add the new ones to ``team``."""
        from ..model.task import slugify
        from .discover import find

        if register and not team:
            raise ValidationError("--register needs --team: the team the new projects belong to")
        if team is not None:
            self.get("team", team)  # NotFound for an unknown team
        found, problems = find(roots, max_depth=max_depth, include_ao_shells=include_ao_shells)
        known = {
            str(Path(r["root_path"]).expanduser().resolve()): r["slug"]
            for r in self.rows("project")
            if r.get("root_path")
        }
        known.update(
            {
                str(Path(r["ao_project_root"]).expanduser().resolve()): r["slug"]
                for r in self.rows("project")
                if r.get("ao_project_root")
            }
        )
        taken = set(self.slugs("project"))
        new: list[tuple[str, dict[str, Any]]] = []
        for item in found:
            item["existing"] = known.get(item["path"])
            if item["existing"]:
                item["slug"] = item["existing"]
                continue
            base = slugify(Path(item["path"]).name, 60) or "project"
            slug, n = base, 2
            while slug in taken:
                slug, n = f"{base}-{n}", n + 1
            taken.add(slug)
            item["slug"] = slug
            new.append(
                (
                    slug,
                    {
                        "team": team,
                        "root_path": item["path"],
                        "default_branch": item["default_branch"],
                        "remote_url": item["remote_url"],
                        "ao_project_root": item["ao_project_root"],
                    },
                )
            )
        registered = []
        if register and new:
            registered = [e.slug for e in self.create_many("project", new)]
        for item in found:
            item["registered"] = item["slug"] in registered
        return {
            "found": found,
            "new": [s for s, _ in new],
            "registered": registered,
            "problems": problems,
            "dry_run": not register,
        }

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
        """Bring the registry in line with what a hostd reports, in one commit.

        The host is matched by address, then slug, and created or updated; each remote
        project is matched by ``ao_project_root`` then ``root_path`` and placed on the host;
        unknown ones are created with ``register_missing`` (in ``team``). Projects placed on
        the host that it no longer reports are listed as stale, and unplaced with ``prune``.
        """
        from ..model.task import slugify

        if register_missing and not team:
            raise ValidationError("--register-missing needs --team: the team new projects join")
        if team is not None:
            self.get("team", team)
        host_noun, project_noun = self.noun("host"), self.noun("project")
        with self.lock:
            hosts = self.rows("host")
            match = next((h for h in hosts if h.get("address") == base_url), None) or next(
                (h for h in hosts if h["slug"] == profile.get("slug")), None
            )
            host_fields = {
                "name": str(profile.get("name") or profile["slug"]),
                "address": base_url,
                "platform": str(profile.get("platform") or "unknown"),
                "status": str(profile.get("status") or "healthy"),
                "capacity_slots": int(profile.get("capacity_slots") or 1),
            }
            records: list[tuple[str, str, str, dict[str, Any] | None]] = []
            paths: list[Path] = []
            if match is None:
                host_slug = slugify(str(profile["slug"]), 60) or "host"
                meta = new_meta(host_noun, host_slug, host_fields)
                paths.append(self._write(None, host_noun, host_slug, meta))
                records.append(("host", host_slug, "created", host_fields))
            else:
                host_slug = str(match["slug"])
                entry = self.get("host", host_slug)
                meta = {**cardfile.copy_plain(entry.meta), **host_fields}
                if meta != entry.meta:
                    paths.append(self._write(entry, host_noun, host_slug, meta))
                    records.append(
                        ("host", host_slug, "updated", changes_between(entry.meta, meta))
                    )
            existing = self.rows("project")
            by_root: dict[str, str] = {}
            for row in existing:
                for key in ("ao_project_root", "root_path"):
                    if row.get(key):
                        by_root.setdefault(str(row[key]), str(row["slug"]))
            taken = set(self.slugs("project"))
            placed, created, seen = [], [], set()
            for remote in projects:
                roots = [
                    str(remote.get(k)) for k in ("ao_project_root", "root_path") if remote.get(k)
                ]
                slug = next((by_root[r] for r in roots if r in by_root), None)
                if slug is None:
                    if not register_missing or not roots:
                        continue
                    base = slugify(str(remote.get("name") or remote.get("id") or "project"), 60)
                    slug, n = base or "project", 2
                    while slug in taken:
                        slug, n = f"{base}-{n}", n + 1
                    taken.add(slug)
                    fields = {
                        "team": team,
                        "root_path": str(remote.get("root_path") or roots[0]),
                        "default_branch": str(remote.get("default_branch") or "main"),
                        "remote_url": remote.get("remote_url"),
                        "enabled": bool(remote.get("enabled", True)),
                        "host": host_slug,
                        "ao_project_root": remote.get("ao_project_root"),
                    }
                    meta = new_meta(project_noun, slug, fields)
                    paths.append(self._write(None, project_noun, slug, meta))
                    records.append(("project", slug, "created", fields))
                    created.append(slug)
                else:
                    entry = self.get("project", slug)
                    if entry.meta.get("host") != host_slug:
                        meta = {**cardfile.copy_plain(entry.meta), "host": host_slug}
                        paths.append(self._write(entry, project_noun, slug, meta))
                        records.append(("project", slug, "updated", {"host": host_slug}))
                        placed.append(slug)
                seen.add(slug)
            stale = sorted(
                str(r["slug"])
                for r in existing
                if r.get("host") == host_slug and r["slug"] not in seen
            )
            if prune:
                for slug in stale:
                    entry = self.get("project", slug)
                    meta = {k: v for k, v in cardfile.copy_plain(entry.meta).items() if k != "host"}
                    paths.append(self._write(entry, project_noun, slug, meta))
                    records.append(("project", slug, "updated", {"host": None}))
            if records:
                self._commit(records, paths, f"host {host_slug}: synced from {base_url}")
        return {
            "host": host_slug,
            "created": created,
            "placed": placed,
            "stale": stale,
            "pruned": stale if prune else [],
            "projects_reported": len(projects),
        }

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
                new_path = self._write(None, noun, new_slug, meta, entry.card.body)
                entry.path.unlink()
                paths.append(new_path)
            else:
                self._write(entry, noun, slug, meta)
            self._commit(
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
            records: list[tuple[str, str, str, dict[str, Any] | None]] = []
            paths: list[Path] = []
            done: list[str] = []
            self._cascade(noun, slug, records, paths, done)
            entry.path.unlink()
            paths.append(entry.path)
            records.append((noun.name, slug, "deleted", None))
            done.append(f"deleted {noun.name} {slug}")
            self._commit(
                records,
                paths,
                f"{noun.name} {slug}: deleted"
                + (f" with {len(done) - 1} dependent change(s)" if len(done) > 1 else ""),
            )
        return done

    def _cascade(
        self, noun: Noun, slug: str, records: list[Any], paths: list[Path], done: list[str]
    ) -> None:
        for other in NOUNS.values():
            for f in other.fields:
                if f.ref != noun.name:
                    continue
                for row in self.rows(other.name):
                    value = row.get(f.name)
                    if not (value == slug or (isinstance(value, list) and slug in value)):
                        continue
                    dep = self.get(other.name, str(row["slug"]))
                    if f.required:
                        self._cascade(other, dep.slug, records, paths, done)
                        dep.path.unlink()
                        paths.append(dep.path)
                        records.append((other.name, dep.slug, "deleted", None))
                        done.append(f"deleted {other.name} {dep.slug}")
                    else:
                        meta = cardfile.copy_plain(dep.meta)
                        if isinstance(value, list):
                            meta[f.name] = [v for v in value if v != slug] or None
                        else:
                            meta[f.name] = None
                        meta = {k: v for k, v in meta.items() if v is not None}
                        path = self._write_unchecked(dep, meta)
                        paths.append(path)
                        records.append((other.name, dep.slug, "updated", {f.name: None}))
                        done.append(f"cleared {other.name} {dep.slug} {f.name}")

    def _write_unchecked(self, entry: Entry, meta: dict[str, Any]) -> Path:
        """Write without the reference check (used mid-cascade, when it is being removed)."""
        text = cardfile.render(entry.card, ordered(entry.noun, meta))
        cardfile.replace(entry.path, text, expect=entry.card.stamp)
        return entry.path

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


Record = tuple[str, str, str, dict[str, Any] | None]  # (kind, key, action, changes)


def store(
    path: Path,
    rel: str,
    noun: Noun,
    meta: dict[str, Any],
    card: cardfile.Card | None,
    body: str | None = None,
) -> None:
    """Write a validated card: a new file that never clobbers one (ValidationError if it
    exists), or a replacement of ``card`` refused if the file changed since it was read."""
    if card is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "---\n" + _dump(meta) + "---\n" + (body if body is not None else "")
        try:
            cardfile.write_new(path, text)
        except FileExistsError:
            key = meta.get(noun.key)
            raise ValidationError(f"{rel}: a {noun.name} {key!r} already exists") from None
    else:
        cardfile.replace(path, cardfile.render(card, meta, body), expect=card.stamp)


def commit_records(
    fleet: FleetBase,
    records: list[Record],
    paths: list[Path],
    message: str,
    reason: str | None = None,
) -> None:
    """One audit record per entity changed, then one commit of ``paths`` and the audit."""
    actor = fleet.actor
    audit_paths = []
    for kind, key, action, changes in records:
        _, audit_path = fleet.audit.append(
            actor, action, (kind, key), reason=reason, changes=changes or None
        )
        audit_paths.append(audit_path)
    fleet.git.commit([*paths, *audit_paths], f"{message} ({actor})", actor)


def _dump(meta: dict[str, Any]) -> str:
    try:
        return yamlfast.dump(meta)
    except yamlfast.NotCanonical as exc:
        raise ValidationError(f"a value cannot be written: {exc}") from None


def new_meta(noun: Noun, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new card's frontmatter: schema, key, the noun's defaults, then ``fields`` (not None)."""
    meta: dict[str, Any] = {"schema": noun.schema, noun.key: slug}
    meta.update((f.name, f.default) for f in noun.fields if f.default is not None)
    meta.update((k, v) for k, v in fields.items() if v is not None)
    return meta


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        k: new.get(k)
        for k in set(old) | set(new)
        if old.get(k) != new.get(k) and k not in ("schema",)
    }
