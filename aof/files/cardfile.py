"""Cards: YAML-frontmatter Markdown files, read and written without losing a byte a human wrote.

A card is ``---\\n<yaml>---\\n<body>``. The body is kept verbatim. The frontmatter is read by
the canonical fast path (:mod:`aof.files.yamlfast`) when the file is in aof's own style, and by
ruamel.yaml's round-trip mode otherwise; in the second case edits are applied to ruamel's
``CommentedMap`` so comments, key order and quoting survive, and a no-op save is byte-identical.

The round-trip reading itself, guarded against hostile YAML, is :mod:`aof.files.yamlrt`.

This module is also the card format's own writer (other whole files go through
:mod:`aof.files.atomic`), with the concurrency checks a card needs, in the Maildir pattern:
write a temp file in the target directory, flush, fsync, then ``os.replace`` (or ``os.link``
when the target must not exist yet) and fsync the directory. Nothing touches a file after
it has been moved into place. Nothing is read or written through a symlink: a card that is a
link, a FIFO or a device is refused when read, and a write into a directory reached through a
link is refused (:mod:`aof.files.safefs`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConcurrentModification, ValidationError
from . import yamlfast
from .safefs import check_no_link, read_regular
from .yamlrt import load_rt as load_rt  # the round-trip helpers card readers use, from here
from .yamlrt import parse_value as parse_value
from .yamlrt import to_plain as to_plain
from .yamlrt import yaml_rt

SPLIT = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.S)
MAX_CARD_BYTES = 1 << 20  # 1 MiB: a card is a small document, a bigger file is refused.


class Stamp(tuple[int, int, int]):
    """What a file was when it was read (inode, size, mtime_ns): enough to notice any change."""

    __slots__ = ()

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls((st.st_ino, st.st_size, st.st_mtime_ns))


class Card:
    """One parsed card: plain-Python ``meta``, verbatim ``body`` and how to write it back.

    (Plain classes rather than dataclasses here and in the other hot-path modules: building a
    dataclass costs ~0.7 ms at import, and every CLI call imports these.)
    """

    __slots__ = ("_doc", "body", "canonical", "frontmatter", "meta", "stamp", "text")

    def __init__(
        self,
        meta: dict[str, Any],
        body: str,
        text: str = "",
        frontmatter: str = "",
        canonical: bool = True,
        stamp: Stamp | None = None,
    ) -> None:
        self.meta = meta
        self.body = body
        self.text = text
        self.frontmatter = frontmatter
        self.canonical = canonical
        self.stamp = stamp
        self._doc: Any = (
            None  # ruamel CommentedMap, loaded only when a non-canonical card is written
        )

    def line_of(self, key: str) -> int:
        """1-based line of a top-level key in the file (the ``---`` line when absent)."""
        match = re.search(rf"^{re.escape(key)}\s*:", self.frontmatter, re.M)
        if not match:
            return 1
        return self.frontmatter.count("\n", 0, match.start()) + 2


def copy_plain(value: Any) -> Any:
    """Deep copy of plain card data (dicts, lists, scalars): 5x faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: copy_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_plain(v) for v in value]
    return value


def check_size(text: str, path: Path | str, written: bool = False) -> None:
    """Refuse a card text over MAX_CARD_BYTES (UTF-8); ``written`` words it for a write."""
    if len(text) * 4 <= MAX_CARD_BYTES:  # cannot be too big: skip the encoding
        return
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_CARD_BYTES:
        return
    if written:
        raise ValidationError(
            f"{path}:1: the file would be {size} bytes, more than the {MAX_CARD_BYTES} "
            "a card may be; nothing was written"
        )
    raise ValidationError(
        f"{path}:1: file is {size} bytes, more than the {MAX_CARD_BYTES} a card may be"
    )


def parse(text: str, path: Path | str = "<card>") -> Card:
    """Split and parse a card; raise ValidationError naming ``path`` and the line on bad input."""
    check_size(text, path)
    if "\x00" in text:
        raise ValidationError(f"{path}:1: not a text file (contains NUL bytes)")
    match = SPLIT.match(text)
    if not match:
        raise ValidationError(f"{path}:1: no YAML frontmatter (the file must start with '---')")
    front = match.group(1) or ""
    body = text[match.end() :]
    try:
        meta = yamlfast.load(front)
        canonical = yamlfast.dump(meta) == front and "\r" not in text
    except yamlfast.NotCanonical:
        meta = to_plain(load_rt(front, path))
        canonical = False
    if not isinstance(meta, dict):
        raise ValidationError(f"{path}:2: frontmatter must be a mapping of keys to values")
    return Card(meta=meta, body=body, text=text, frontmatter=front, canonical=canonical)


def written(text: str, meta: dict[str, Any], body: str) -> Card:
    """The Card for ``text`` that aof just rendered from ``meta`` and ``body`` (no re-parse)."""
    match = SPLIT.match(text)
    front = (match.group(1) or "") if match else ""
    canonical = text == "---\n" + front + "---\n" + body and _is_canonical_front(front, meta)
    return Card(meta=meta, body=body, text=text, frontmatter=front, canonical=canonical)


def _is_canonical_front(front: str, meta: dict[str, Any]) -> bool:
    try:
        return yamlfast.dump(meta) == front
    except yamlfast.NotCanonical:
        return False


def render(card: Card, meta: dict[str, Any], body: str | None = None) -> str:
    """Return the file text for ``card`` with new ``meta`` (ordered) and optionally a new body.

    A canonical card is re-emitted in canonical style. Any other card has ``meta`` applied as
    a minimal edit of its round-trip document, so comments, quoting and order survive.
    """
    new_body = card.body if body is None else body
    if card.canonical:
        try:
            return "---\n" + yamlfast.dump(meta) + "---\n" + new_body
        except yamlfast.NotCanonical:
            pass  # a value outside the canonical subset: let ruamel write it
    if card.meta == meta and body is None and card.text:
        return card.text
    if card._doc is None:
        card._doc = load_rt(card.frontmatter, "<card>") if card.frontmatter else None
    if card._doc is None:
        from ruamel.yaml.comments import CommentedMap

        card._doc = CommentedMap()
    doc = card._doc
    _apply(doc, meta)
    import io

    buf = io.StringIO()
    yaml = yaml_rt()
    seq, offset = _guess_indent(card.frontmatter)
    yaml.indent(mapping=2, sequence=seq, offset=offset)
    yaml.dump(doc, buf)
    return "---\n" + buf.getvalue() + "---\n" + new_body


def _guess_indent(front: str) -> tuple[int, int]:
    """Keep a file's list style: ``- x`` at the key's column (2, 0) or indented (4, 2)."""
    lines = front.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.rstrip().endswith(":") and not line.startswith(" "):
            nxt = lines[i + 1]
            if nxt.startswith("- "):
                return 2, 0
            if nxt.lstrip().startswith("- "):
                return 4, 2
    return 4, 2


def _apply(doc: Any, meta: dict[str, Any]) -> None:
    """Edit round-trip mapping ``doc`` in place until it equals ``meta``, touching nothing else."""
    for key in [k for k in doc if k not in meta]:
        del doc[key]
    order = list(meta)
    for key, value in meta.items():
        if key in doc:
            old = doc[key]
            if isinstance(value, dict) and isinstance(old, dict):
                _apply(old, value)
            elif to_plain(old) != value:
                doc[key] = value
            continue
        # New key: insert after the nearest preceding key that the doc already has.
        pos = 0
        for prev in reversed(order[: order.index(key)]):
            if prev in doc:
                pos = list(doc).index(prev) + 1
                break
        doc.insert(pos, key, value)


def read(path: Path) -> Card:
    """Read and parse the card at ``path``; raise ValidationError/FileNotFoundError.

    Never through a link, never a FIFO or device (:func:`read_text`).
    """
    text, st = read_text(path)
    card = parse(text, path)
    card.stamp = Stamp.of(st)
    return card


def read_body(path: Path) -> str:
    """The body of the card at ``path`` without parsing its frontmatter (a text search over
    many files); read as :func:`read_text` reads. ValidationError when it has no frontmatter."""
    text, _st = read_text(path)
    match = SPLIT.match(text)
    if not match:
        raise ValidationError(f"{path}:1: no YAML frontmatter (the file must start with '---')")
    return text[match.end() :]


def read_in_root(path: Path, rel: str) -> Card:
    """:func:`read` for ``show``/``get``: also refuses a directory reached through a link,
    and names the file by ``rel`` (its path in the fleet root) in every error."""
    try:
        check_no_link(path.parent)
        return read(path)
    except ValidationError as exc:
        text = str(exc).replace(str(path), rel).replace(str(path.parent), os.path.dirname(rel))
        raise ValidationError(text) from None


def read_text(path: Path) -> tuple[str, os.stat_result]:
    """The UTF-8 text (BOM dropped) of the regular file at ``path`` and its stat: never
    through a link, never a FIFO or device (:func:`aof.files.safefs.read_regular`), refused over
    MAX_CARD_BYTES. Cards, aof.yaml and workflows are read through it."""
    try:
        raw, st = read_regular(path, MAX_CARD_BYTES)
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("it may be", "a card may be")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValidationError(f"{path}:{line}: not UTF-8 text") from None
    return (text[1:] if text.startswith("\ufeff") else text), st


def _fsync_dir(directory: Path) -> None:
    from .durability import sync

    sync(directory)


def _write_temp(directory: Path, name: str, data: bytes, tag: str = "") -> Path:
    check_no_link(directory)  # a symlinked state directory would take the card out of the root
    tmp = directory / f".{name}.{tag}{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; raise FileExistsError if it exists (never clobbers)."""
    tmp = _write_temp(path.parent, path.name, text.encode("utf-8"))
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def replace(path: Path, text: str, expect: Stamp | None = None) -> None:
    """Atomically replace ``path`` with ``text``.

    With ``expect``, refuse (ConcurrentModification) when the file is no longer the one that
    was read, including when it has been moved away: replacing then would resurrect it.
    """
    tmp = _write_temp(path.parent, path.name, text.encode("utf-8"))
    try:
        if expect is not None:
            try:
                now = Stamp.of(os.stat(path))
            except FileNotFoundError:
                raise ConcurrentModification(
                    f"{path}: the file was moved or deleted while it was being updated"
                ) from None
            if now != expect:
                raise ConcurrentModification(
                    f"{path}: the file changed on disk after it was read; nothing was written "
                    "(re-run the command to apply it to the new content)"
                )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def content_hash(text: str) -> str:
    """The short hash that names what a move-and-rewrite started from (see :func:`move_rewrite`)."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


MOVE_TAG = "mv."


def move_rewrite(src: Path, dst: Path, text: str, base: str, expect: Stamp | None = None) -> None:
    """Move ``src`` to ``dst`` and give it ``text``, so that a crash at any instant is recoverable.

    1. the new content goes to a temp file in ``dst``'s directory, named after ``base`` (the
       hash of the content being moved) and fsynced;
    2. ``os.rename(src, dst)`` is the one decisive step: exactly one caller wins it, the others
       get FileNotFoundError (which the caller turns into ClaimConflict);
    3. ``os.replace(temp, dst)`` installs the content.
    A crash between 2 and 3 leaves ``dst`` with the old content and the temp beside it; the
    janitor rolls that forward when ``dst`` still hashes to ``base`` and deletes it otherwise.
    A crash before 2 leaves only a temp, which the janitor deletes: nothing happened.
    """
    tmp = _write_temp(dst.parent, dst.name, text.encode("utf-8"), tag=f"{MOVE_TAG}{base}.")
    try:
        if expect is not None and Stamp.of(os.stat(src)) != expect:
            raise ConcurrentModification(
                f"{src}: the file changed on disk after it was read; nothing was moved"
            )
        if dst.exists():
            raise FileExistsError(dst)
        os.rename(src, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)
    # Only the destination directory is synced: should power fail before the source
    # directory's entry is on disk, the task shows up in both states, and the janitor
    # resolves that duplicate from the audit trail. (A kill -9 needs no fsync at all.)
    _fsync_dir(dst.parent)
