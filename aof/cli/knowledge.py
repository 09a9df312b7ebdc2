"""``aof knowledge ...``: sources, documents and facts, search, reindex and promote.

Every command is one call on ``fleet.knowledge`` (:mod:`aof.knowledge.items`). Flag names
follow ao-fleet's knowledge commands (``--scope --scope-ref --kind --label --uri
--sync-state --title --summary --body --tag --statement --confidence``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from . import Env, emit, iso_at, json_option, pass_env, reason_option

SCOPE_HELP = "company (default), team or project."


@click.group("knowledge")
def knowledge() -> None:
    """Company memory: sources, documents and facts under knowledge/, and ranked search.

    \b
    Example:
      aof knowledge document create --title "Launch checklist" --kind runbook \\
          --summary "What to verify before a launch" --tag marketing --body-file launch.md
      aof knowledge fact create --statement "Friday deploys fail twice as often" \\
          --confidence 70 --kind risk
      aof knowledge search --text '"launch checklist" OR rollback*' --tag marketing
    """


def _filters(limit: int | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The filter options of list and search (applied before --limit)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(
            [
                click.option("--scope", metavar="SCOPE", help=SCOPE_HELP),
                click.option("--scope-ref", metavar="SLUG", help="The team's or project's slug."),
                click.option(
                    "--kind", "kinds", multiple=True, metavar="K", help="A kind (repeat: any of)."
                ),
                click.option(
                    "--tag",
                    "tags",
                    multiple=True,
                    metavar="T",
                    help="A tag, any case (repeat: all of).",
                ),
                click.option(
                    "--limit",
                    type=click.IntRange(min=1),
                    default=limit,
                    show_default=limit is not None,
                    help="At most this many, after the filters"
                    + ("" if limit else " (default: all)."),
                ),
                json_option,
            ]
        ):
            f = opt(f)
        return f

    return wrap


def _body_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--body-file",
        type=click.File("r", encoding="utf-8"),
        help="Read the Markdown body from a file, - for stdin.",
    )(f)
    return click.option("--body", help="The Markdown body.")(f)


def _body_of(body: str | None, body_file: Any) -> str | None:
    """--body, or the text of --body-file (which wins when both are given)."""
    return body_file.read() if body_file is not None else body


def _warn(problems: list[str]) -> None:
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


def _bold(snippet: str) -> str:
    if not sys.stdout.isatty():
        return snippet
    parts = snippet.split("**")
    return "".join(click.style(p, bold=True) if i % 2 else p for i, p in enumerate(parts))


def _rows_text(rows: list[dict[str, Any]], total: int, *, snippets: bool) -> str:
    if not rows:
        return "nothing found"
    lines = []
    for row in rows:
        scope = row["scope"] + (f":{row['scope_ref']}" if row.get("scope_ref") else "")
        extra = f" ({row['confidence']}%)" if row.get("confidence") is not None else ""
        lines.append(
            f"{row['id']:<28} {row['type']:<9} {row['kind']:<16} {scope:<18} {row['title']}{extra}"
        )
        if snippets and row.get("snippet"):
            lines.append("    " + _bold(" ".join(row["snippet"].split())))
    if total > len(rows):
        lines.append(f"({len(rows)} of {total}; --limit shows more)")
    return "\n".join(lines)


def _list(env: Env, type_: str, as_json: bool, **filters: Any) -> None:
    result = env.fleet().knowledge.list(type_, **filters)
    _warn(result["problems"])
    emit(result["results"], as_json, _rows_text(result["results"], result["total"], snippets=False))


def _show(env: Env, type_: str, key: str, as_json: bool) -> None:
    k = env.fleet().knowledge
    item = k.get(type_, key)
    if as_json:
        emit(k.item_json(item), True)
        return
    click.echo(item.card.text, nl=False)


def _out(env: Env, item: Any, as_json: bool, verb: str) -> None:
    k = env.fleet().knowledge
    emit(k.item_json(item), as_json, f"{verb} {k.rel(item.path)}")


# --- sources ---------------------------------------------------------------------------------


@knowledge.group("source")
def source() -> None:
    """Pointers to external artifacts: runbooks, repos, URLs, incidents (knowledge/sources/).

    \b
    Example:
      aof knowledge source upsert wiki --kind link --label "Ops wiki" --uri https://wiki/ops
      aof knowledge source list
    """


@source.command("upsert")
@click.argument("slug")
@click.option("--kind", metavar="K", help="manual_note, link, github_issue, incident, ...")
@click.option("--label", help="A short name for the artifact (required when creating).")
@click.option("--uri", help="Where it lives: a URL or path.")
@click.option("--scope", help=SCOPE_HELP)
@click.option("--scope-ref", metavar="SLUG")
@click.option("--sync-state", type=click.Choice(["pending", "ready", "stale", "failed"]))
@click.option("--last-synced-at", metavar="TIME")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag (repeat; replaces them).")
@reason_option
@json_option
@pass_env
def source_upsert(
    env: Env, /, slug: str, tags: tuple[str, ...], as_json: bool, **fields: Any
) -> None:
    """Create source SLUG, or change the fields given.

    \b
    Example:
      aof knowledge source upsert launch-notes --kind manual_note --label "Launch notes" \\
          --uri file:///ops/launch.md --scope team --scope-ref marketing
    """
    fields["last_synced_at"] = iso_at(fields["last_synced_at"], "--last-synced-at")
    fields["tags"] = list(tags) or None  # None: unchanged
    k = env.fleet().knowledge
    item, how = k.upsert_source(slug, fields)
    emit({**k.item_json(item, body=False), "result": how}, as_json, f"{how} {k.rel(item.path)}")


@source.command("list")
@_filters(None)
@pass_env
def source_list(env: Env, /, as_json: bool, **filters: Any) -> None:
    """List sources, newest first.

    \b
    Example:
      aof knowledge source list --scope team --scope-ref marketing --json
    """
    _list(env, "source", as_json, **filters)


@source.command("show")
@click.argument("slug")
@json_option
@pass_env
def source_show(env: Env, slug: str, as_json: bool) -> None:
    """Print source SLUG's file (or its fields with --json).

    \b
    Example:
      aof knowledge source show launch-notes
    """
    _show(env, "source", slug, as_json)


# --- documents -------------------------------------------------------------------------------


@knowledge.group("document")
def document() -> None:
    """Rich records: title, summary, kind, tags and a Markdown body (knowledge/documents/).

    \b
    Example:
      aof knowledge document create --title "Rollback" --kind runbook --body-file rollback.md
      aof knowledge document list --kind runbook
    """


@document.command("create")
@click.option("--title", required=True, help="The document's title.")
@click.option("--kind", required=True, metavar="K", help="runbook, decision, brief, ...")
@click.option("--summary", help="One or two sentences; ranked above the body.")
@click.option("--scope", help=SCOPE_HELP)
@click.option("--scope-ref", metavar="SLUG")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag (repeat).")
@click.option("--source", metavar="SLUG", help="The knowledge source it came from.")
@click.option("--uri", help="A link to the original.")
@click.option("--slug", metavar="SLUG", help="The file name (default: from the title).")
@_body_options
@reason_option
@json_option
@pass_env
def document_create(
    env: Env,
    /,
    slug: str | None,
    tags: tuple[str, ...],
    body: str | None,
    body_file: Any,
    as_json: bool,
    **fields: Any,
) -> None:
    """Create a document.

    \b
    Example:
      aof knowledge document create --title "Campaign launch checklist" --kind runbook \\
          --summary "Operational checklist for launches" --scope team --scope-ref marketing \\
          --tag marketing --body "Verify the launch checklist before enabling the campaign."
    """
    fields["tags"] = list(tags) or None
    item = env.fleet().knowledge.create_document(
        fields, slug=slug, body=_body_of(body, body_file) or ""
    )
    _out(env, item, as_json, "created")


@document.command("list")
@_filters(None)
@pass_env
def document_list(env: Env, /, as_json: bool, **filters: Any) -> None:
    """List documents, newest first.

    \b
    Example:
      aof knowledge document list --kind runbook --tag marketing
    """
    _list(env, "document", as_json, **filters)


@document.command("show")
@click.argument("slug")
@json_option
@pass_env
def document_show(env: Env, slug: str, as_json: bool) -> None:
    """Print document SLUG's file (or its fields and body with --json).

    \b
    Example:
      aof knowledge document show campaign-launch-checklist
    """
    _show(env, "document", slug, as_json)


@document.command("edit")
@click.argument("slug")
@click.option("--title")
@click.option("--summary")
@click.option("--kind", metavar="K")
@click.option("--scope", help=SCOPE_HELP)
@click.option("--scope-ref", metavar="SLUG")
@click.option("--source", metavar="SLUG")
@click.option("--uri")
@click.option("--add-tag", multiple=True, metavar="T")
@click.option("--remove-tag", multiple=True, metavar="T", help="Any case.")
@click.option("--unset", multiple=True, metavar="FIELD", help="Remove a field (summary, uri...).")
@_body_options
@reason_option
@json_option
@pass_env
def document_edit(
    env: Env,
    /,
    slug: str,
    add_tag: tuple[str, ...],
    remove_tag: tuple[str, ...],
    unset: tuple[str, ...],
    body: str | None,
    body_file: Any,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change a document's fields, tags or body; comments and formatting are kept.

    \b
    Example:
      aof knowledge document edit campaign-launch-checklist --add-tag launch --body-file new.md
    """
    body = _body_of(body, body_file)
    changes = {k: v for k, v in fields.items() if v is not None}
    changes.update((name.replace("-", "_"), None) for name in unset)
    item = env.fleet().knowledge.edit_document(
        slug, changes, body=body, add_tags=add_tag, remove_tags=remove_tag
    )
    _out(env, item, as_json, "edited")


# --- facts -----------------------------------------------------------------------------------


@knowledge.group("fact")
def fact() -> None:
    """Short assertions with a confidence from 0 to 100 (knowledge/facts/).

    \b
    Example:
      aof knowledge fact create --statement "The API p99 is 180 ms" --confidence 90 --kind policy
      aof knowledge fact list --min-confidence 80
    """


@fact.command("create")
@click.option("--statement", required=True, help="The assertion, one sentence.")
@click.option("--confidence", required=True, type=int, help="0 to 100.")
@click.option("--kind", required=True, metavar="K", help="policy, decision, risk, ...")
@click.option("--scope", help=SCOPE_HELP)
@click.option("--scope-ref", metavar="SLUG")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag (repeat).")
@click.option("--source", metavar="SLUG", help="The knowledge source it came from.")
@click.option("--uri", help="A link to the evidence.")
@click.option("--observed-at", metavar="TIME", help="When it was observed (default: now).")
@_body_options
@reason_option
@json_option
@pass_env
def fact_create(
    env: Env,
    /,
    tags: tuple[str, ...],
    body: str | None,
    body_file: Any,
    as_json: bool,
    **fields: Any,
) -> None:
    """Record a fact.

    \b
    Example:
      aof knowledge fact create --statement "Deploys on Fridays fail twice as often" \\
          --confidence 70 --kind risk --scope team --scope-ref platform --tag deploys
    """
    fields["observed_at"] = iso_at(fields["observed_at"], "--observed-at")
    fields["tags"] = list(tags) or None
    item = env.fleet().knowledge.create_fact(fields, body=_body_of(body, body_file) or "")
    _out(env, item, as_json, "created")


@fact.command("list")
@_filters(None)
@click.option(
    "--min-confidence", type=click.IntRange(0, 100), help="Only facts at least this sure."
)
@pass_env
def fact_list(env: Env, /, as_json: bool, **filters: Any) -> None:
    """List facts, newest first.

    \b
    Example:
      aof knowledge fact list --kind risk --min-confidence 60
    """
    _list(env, "fact", as_json, **filters)


@fact.command("show")
@click.argument("fact_id", metavar="ID")
@json_option
@pass_env
def fact_show(env: Env, fact_id: str, as_json: bool) -> None:
    """Print fact ID's file (or its fields with --json).

    \b
    Example:
      aof knowledge fact show f-3kf9qa
    """
    _show(env, "fact", fact_id, as_json)


# --- search, index, promotion ----------------------------------------------------------------


@knowledge.command("search")
@click.option(
    "--text", metavar="QUERY", help='Words, "a phrase", prefix*, OR, -excluded, title:word.'
)
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice(["source", "document", "fact"]),
    help="Only this type (repeat).",
)
@_filters(20)
@click.option("--min-confidence", type=click.IntRange(0, 100), help="Facts at least this sure.")
@click.option(
    "--semantic/--no-semantic",
    default=None,
    help="Also rank by meaning (needs aof[semantic]; default: knowledge.semantic in aof.yaml).",
)
@pass_env
def search(env: Env, /, as_json: bool, semantic: bool | None, **filters: Any) -> None:
    """Search sources, documents and facts: ranked (BM25, title and summary above the body),
    every filter applied before --limit, tags matched in any case.

    \b
    Example:
      aof knowledge search --text 'rollback*' --scope team --scope-ref marketing --tag Launch
      aof knowledge search --text '"blue green" deploy -staging' --kind runbook --json
    """
    result = env.fleet().knowledge.search(semantic=semantic, **filters)
    _warn(result["problems"])
    emit(result, as_json, _rows_text(result["results"], result["total"], snippets=True))


@knowledge.command("reindex")
@json_option
@pass_env
def reindex(env: Env, as_json: bool) -> None:
    """Rebuild the search index (.aof/cache/knowledge.db) from the files.

    Never needed for correctness: every search brings the index up to date from the files,
    and rebuilds it when it is missing or corrupt.

    \b
    Example:
      aof knowledge reindex
    """
    result = env.fleet().knowledge.reindex()
    _warn(result["problems"])
    emit(result, as_json, f"indexed {result['indexed']} file(s)")


@knowledge.command("promote")
@click.argument("task_ref", metavar="TASK-ID")
@click.option("--attempt", type=click.IntRange(min=1), help="The run (default: the last one).")
@click.option("--kind", default="learning", show_default=True, metavar="K")
@reason_option
@json_option
@pass_env
def promote(env: Env, task_ref: str, attempt: int | None, kind: str, as_json: bool) -> None:
    """Turn a finished run's notes into a document, with its task, run and commit.

    Reads the run's plan.md, notes.md and status.md (runs/<task>/<attempt>/) and the task's
    completion summary. Promoting the same run, or notes an existing document already
    holds, returns that document instead of a copy.

    \b
    Example:
      aof knowledge promote t-3kf9qa --attempt 2
    """
    result = env.fleet().knowledge.promote(task_ref, attempt=attempt, kind=kind)
    verb = "promoted to" if result["created"] else f"already in ({result['duplicate_of']})"
    emit(result, as_json, f"{verb} {result['document']['path']}")


@knowledge.command("kinds")
@json_option
@pass_env
def kinds(env: Env, as_json: bool) -> None:
    """The kinds each type accepts: ao-fleet's, aof's and the fleet's own (aof.yaml).

    \b
    Example:
      aof knowledge kinds
    """
    data = {t: list(v) for t, v in env.fleet().knowledge.kinds.items()}
    emit(data, as_json, "\n".join(f"{t}: {', '.join(v)}" for t, v in data.items()))
