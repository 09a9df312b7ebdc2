"""The knowledge base through the service and the CLI: files, audit and commits, ranked
search with every filter applied before the limit, an index that follows the files, and
bad input refused with nothing written."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet, ValidationError
from aof.clock import FixedClock
from aof.knowledge.index import VERSION

from .conftest import Cli, git, git_clean


def doc(fleet: Fleet, title: str, body: str = "", **fields: Any) -> str:
    fields.setdefault("kind", "runbook")
    return fleet.knowledge.create_document({"title": title, **fields}, body=body).key


def ids(result: dict[str, Any]) -> list[str]:
    return [r["id"] for r in result["results"]]


def search(fleet: Fleet, **kw: Any) -> dict[str, Any]:
    return fleet.knowledge.search(**kw)


@pytest.fixture
def team_fleet(fleet: Fleet) -> Fleet:
    fleet.registry.create(
        "team", "marketing", {"name": "Marketing", "mission": "Grow", "ownership": "company"}
    )
    return fleet


# --- files, audit, git ---------------------------------------------------------------------


def test_each_kind_is_a_file_audited_and_committed(team_fleet: Fleet, run: Cli) -> None:
    root = team_fleet.root
    made = run.json(
        "knowledge", "source", "upsert", "launch-notes", "--kind", "manual_note",
        "--label", "Launch notes", "--uri", "file:///ops/launch.md", "--scope", "team",
        "--scope-ref", "marketing",
    )  # fmt: skip
    assert made["result"] == "created" and made["sync_state"] == "ready"
    again = run.json("knowledge", "source", "upsert", "launch-notes", "--sync-state", "stale")
    assert again["result"] == "updated" and again["label"] == "Launch notes"
    assert run.json("knowledge", "source", "upsert", "launch-notes")["result"] == "unchanged"
    document = run.json(
        "knowledge", "document", "create", "--title", "Campaign launch checklist",
        "--kind", "runbook", "--summary", "Operational checklist for launches",
        "--scope", "team", "--scope-ref", "marketing", "--tag", "Marketing",
        "--source", "launch-notes", "--body", "Verify the checklist before enabling the campaign.",
    )  # fmt: skip
    assert document["slug"] == "campaign-launch-checklist"
    assert document["path"] == "knowledge/documents/campaign-launch-checklist.md"
    fact = run.json(
        "knowledge", "fact", "create", "--statement", "Friday deploys fail twice as often",
        "--confidence", "70", "--kind", "risk",
    )  # fmt: skip
    assert fact["id"].startswith("f-") and fact["observed_at"] == fact["created"]
    text = (root / document["path"]).read_text(encoding="utf-8")
    assert text.startswith("---\nschema: aof/knowledge-document/v1\nslug: campaign-launch")
    assert text.endswith("---\nVerify the checklist before enabling the campaign.\n")
    assert git_clean(root)
    log = git(root, "log", "--format=%s")
    assert "knowledge document campaign-launch-checklist: created (human:" in log
    assert "knowledge source launch-notes: updated" in log
    records = [json.loads(ln) for f in sorted((root / "audit").rglob("*.jsonl"))
               for ln in f.read_text().splitlines()]  # fmt: skip
    kinds = [(r["entity"]["kind"], r["action"]) for r in records[-4:]]
    assert kinds == [
        ("knowledge-source", "created"),
        ("knowledge-source", "updated"),
        ("knowledge-document", "created"),
        ("knowledge-fact", "created"),
    ]
    sources = run.json("knowledge", "source", "list", "--scope", "team", "--scope-ref", "marketing")
    assert [(r["id"], r["sync_state"]) for r in sources] == [("launch-notes", "stale")]
    facts = run.json("knowledge", "fact", "list", "--kind", "risk", "--min-confidence", "70")
    assert [r["id"] for r in facts] == [fact["id"]] and facts[0]["confidence"] == 70
    assert run.json("knowledge", "fact", "list", "--min-confidence", "71") == []
    shown = run.json("knowledge", "document", "show", "campaign-launch-checklist")
    assert shown["body"].startswith("Verify") and shown["tags"] == ["Marketing"]
    assert run("knowledge", "fact", "show", fact["id"]).stdout.startswith("---\n")
    assert run("lint").stdout.strip() == "ok: every file is valid"


def test_edit_keeps_hand_written_comments_and_changes_only_what_is_asked(
    fleet: Fleet, run: Cli, clock: FixedClock
) -> None:
    slug = doc(fleet, "Deploy guide", "Old body.\n", tags=["ops"])
    path = fleet.root / "knowledge" / "documents" / f"{slug}.md"
    path.write_text(path.read_text().replace("kind: runbook", "kind: runbook  # keep me"))
    clock.advance(60)
    out = run.json(
        "knowledge", "document", "edit", slug, "--summary", "How we deploy",
        "--add-tag", "Deploys", "--remove-tag", "OPS", "--body", "New body.",
    )  # fmt: skip
    assert out["tags"] == ["Deploys"] and out["summary"] == "How we deploy"
    assert out["updated"] > out["created"]
    text = path.read_text()
    assert "kind: runbook  # keep me" in text and text.endswith("---\nNew body.\n")
    assert (
        run.json("knowledge", "document", "edit", slug, "--unset", "summary").get("summary") is None
    )
    before = git(fleet.root, "rev-parse", "HEAD")
    run("knowledge", "document", "edit", slug, "--title", "Deploy guide")  # no change
    assert git(fleet.root, "rev-parse", "HEAD") == before
    err = run("knowledge", "document", "edit", slug, "--unset", "created", code=6).stderr
    assert "created: set by aof" in err


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["document", "create", "--title", "T", "--kind", "runbok"],
         "kind: unknown document kind 'runbok' (kinds: brief"),
        (["document", "create", "--title", "T", "--kind", "runbook", "--scope", "global"],
         "scope: must be one of company, team, project (ao-fleet's 'global' is 'company'"),
        (["document", "create", "--title", "T", "--kind", "runbook", "--scope", "team"],
         "scope_ref: scope team needs the team's slug"),
        (["document", "create", "--title", "T", "--kind", "runbook", "--scope", "team",
          "--scope-ref", "nobody"], "scope_ref: no team 'nobody'"),
        (["document", "create", "--title", "T", "--kind", "runbook", "--scope-ref", "x"],
         "scope_ref: company-wide knowledge has no scope_ref"),
        (["document", "create", "--title", " ", "--kind", "runbook"],
         "title: must be non-empty text"),
        (["document", "create", "--title", "T", "--kind", "runbook", "--source", "nope"],
         "source: no knowledge source 'nope'"),
        (["fact", "create", "--statement", "S", "--confidence", "101", "--kind", "risk"],
         "confidence: must be a whole number from 0 to 100 (got 101)"),
        (["fact", "create", "--statement", "S", "--confidence", "-1", "--kind", "risk"],
         "confidence: must be a whole number from 0 to 100 (got -1)"),
        (["fact", "create", "--statement", "S", "--confidence", "50", "--kind", "runbook"],
         "unknown fact kind 'runbook'"),
        (["source", "upsert", "s", "--kind", "link"], "label: is required"),
        (["source", "upsert", "../x", "--kind", "link", "--label", "L"],
         "source slug '../x': lower-case letters"),
        (["search", "--text", "-staging"], "only excludes words"),
    ],
)  # fmt: skip
def test_bad_input_is_named_and_nothing_is_written(
    fleet: Fleet, run: Cli, args: list[str], message: str
) -> None:
    head = git(fleet.root, "rev-parse", "HEAD")
    err = run("knowledge", *args, code=6).stderr
    assert message in err, err
    assert err.count("\n") == 1  # one line
    assert git(fleet.root, "rev-parse", "HEAD") == head and git_clean(fleet.root)
    for sub in ("sources", "documents", "facts"):
        assert not list((fleet.root / "knowledge" / sub).glob("*.md"))


def test_a_missing_title_is_a_usage_error(run: Cli) -> None:
    err = run("knowledge", "document", "create", "--kind", "runbook", code=2).stderr
    assert "Missing option '--title'" in err


def test_malformed_files_are_reported_and_skipped_never_fatal(fleet: Fleet, run: Cli) -> None:
    doc(fleet, "Healthy runbook", "rollback steps")
    docs = fleet.root / "knowledge" / "documents"
    (docs / "broken.md").write_text("---\nslug: broken\ntitle: [unclosed\n---\nrollback\n")
    (docs / "wrong-kind.md").write_text(
        "---\nschema: aof/knowledge-document/v1\nslug: wrong-kind\ntitle: W\nkind: memo\n---\n"
    )
    (docs / "no-front.md").write_text("rollback without frontmatter\n")
    result = run("knowledge", "search", "--text", "rollback", "--json")
    assert [r["id"] for r in json.loads(result.stdout)["results"]] == ["healthy-runbook"]
    problems = json.loads(result.stdout)["problems"]
    assert any(p.startswith("knowledge/documents/broken.md:3: invalid YAML") for p in problems)
    assert any("wrong-kind.md:5: kind: unknown document kind 'memo'" in p for p in problems)
    assert any("no-front.md:1: no YAML frontmatter" in p for p in problems)
    assert "warning: knowledge/documents/broken.md" in result.stderr
    err = run("knowledge", "document", "show", "wrong-kind", code=6).stderr
    assert "kind: unknown document kind 'memo'" in err
    lint = run("lint", code=None).stdout
    assert "knowledge/documents/wrong-kind.md:5: kind" in lint and "broken.md" in lint


def test_fleet_kinds_extend_the_built_in_ones(fleet: Fleet, run: Cli) -> None:
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text() + "\nknowledge:\n  kinds:\n    document: [postmortem]\n")
    assert "postmortem" in run.json("knowledge", "kinds")["document"]
    run("knowledge", "document", "create", "--title", "Outage", "--kind", "postmortem")
    cfg.write_text(cfg.read_text() + "    fact: [Bad Kind]\n")
    err = run("knowledge", "kinds", code=7).stderr
    assert "knowledge.kinds.fact: must be a list of lower-case words" in err


# --- search: ranking, phrase, prefix, filters, limit -----------------------------------------


def test_title_and_summary_rank_above_the_body(fleet: Fleet) -> None:
    filler = " ".join(["the deploy pipeline builds and ships code"] * 8)
    doc(fleet, "Notes on the pipeline", f"{filler} rollback rollback once more")
    doc(fleet, "Misc", filler, summary="When a release goes bad, rollback first")
    doc(fleet, "Rollback", filler)
    found = search(fleet, text="rollback")
    assert ids(found) == ["rollback", "misc", "notes-on-the-pipeline"]
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert "**Rollback**" in found["results"][0]["snippet"]


def test_phrase_and_prefix_queries(fleet: Fleet) -> None:
    doc(fleet, "Blue green deploys", "Switch traffic with a blue green deploy.")
    doc(fleet, "Colours", "The green light and the blue sky.")
    doc(fleet, "Cluster", "kubectl talks to kubernetes.")
    assert ids(search(fleet, text='"blue green"')) == ["blue-green-deploys"]
    assert set(ids(search(fleet, text="blue green"))) == {"blue-green-deploys", "colours"}
    assert ids(search(fleet, text="kube*")) == ["cluster"]
    assert ids(search(fleet, text="kube")) == []
    assert set(ids(search(fleet, text="colours OR cluster"))) == {"colours", "cluster"}
    assert ids(search(fleet, text="blue -traffic")) == ["colours"]
    assert ids(search(fleet, text="title:deploys")) == ["blue-green-deploys"]
    for odd in ['c++ "unclosed', "a:b NEAR(x)", "*", '""', "AND OR NOT", "-"]:
        search(fleet, text=odd)  # never an FTS5 syntax error


def test_scope_kind_and_tag_filters(team_fleet: Fleet) -> None:
    f = team_fleet
    doc(f, "Company launch", "launch", tags=["Deploy", "Risky"])
    doc(f, "Team launch", "launch", scope="team", scope_ref="marketing", tags=["deploy"])
    doc(f, "Launch decision", "launch", kind="decision", tags=["DEPLOY", "risky", "old"])
    f.knowledge.create_fact(
        {"statement": "Launch on Tuesdays", "confidence": 80, "kind": "decision"}
    )
    assert ids(search(f, text="launch", scope="team", scope_ref="marketing")) == ["team-launch"]
    assert len(ids(search(f, text="launch", scope="company"))) == 3
    kinds = search(f, text="launch", kinds=["decision"])
    assert sorted(r["type"] for r in kinds["results"]) == ["document", "fact"]
    assert len(ids(search(f, text="launch", kinds=["decision", "runbook"]))) == 4
    assert set(ids(search(f, tags=["deploy"]))) == {
        "company-launch",
        "team-launch",
        "launch-decision",
    }
    assert set(ids(search(f, tags=["DEPLOY", "Risky"]))) == {"company-launch", "launch-decision"}
    assert ids(search(f, tags=["risky", "old"])) == ["launch-decision"]
    assert ids(search(f, text="launch", types=["fact"]))[0].startswith("f-")
    assert search(f, types=["fact"], min_confidence=81)["total"] == 0


def test_filters_apply_before_the_limit(fleet: Fleet, clock: FixedClock) -> None:
    """ao-fleet fetched the newest N, then filtered: the old match below was lost."""
    doc(fleet, "Old target", "incident review", tags=["target"], kind="incident_report")
    for n in range(30):
        clock.advance(60)
        doc(fleet, f"Newer {n}", "incident review", tags=["other"])
    by_tag = search(fleet, text="incident", tags=["TARGET"], limit=5)
    assert ids(by_tag) == ["old-target"] and by_tag["total"] == 1
    by_kind = search(fleet, kinds=["incident_report"], limit=5)
    assert ids(by_kind) == ["old-target"]
    newest = search(fleet, limit=5)
    assert ids(newest) == [f"newer-{n}" for n in (29, 28, 27, 26, 25)]
    assert newest["total"] == 31


def test_search_cli_text_and_json(fleet: Fleet, run: Cli) -> None:
    doc(fleet, "Rollback", "How to roll back.", tags=["ops"])
    out = run("knowledge", "search", "--text", "rollback", "--tag", "OPS").stdout
    assert out.splitlines()[0].startswith("rollback") and "**Rollback**" in out
    data = run.json("knowledge", "search", "--text", "nothing-like-it")
    assert data["total"] == 0 and data["results"] == [] and data["query"] == '"nothing-like-it"'
    listed = run.json("knowledge", "document", "list", "--tag", "ops")
    assert [r["id"] for r in listed] == ["rollback"]


# --- the index follows the files -------------------------------------------------------------


def test_index_follows_hand_edits_deletions_and_renames(fleet: Fleet, run: Cli) -> None:
    doc(fleet, "Alpha", "apples")
    doc(fleet, "Beta", "bananas")
    assert ids(search(fleet, text="apples")) == ["alpha"]
    docs = fleet.root / "knowledge" / "documents"
    alpha = docs / "alpha.md"
    with open(alpha, "r+", encoding="utf-8") as fh:  # in place, as many editors write
        text = fh.read().replace("apples", "cherries")
        fh.seek(0)
        fh.write(text)
        fh.truncate()
    assert ids(search(fleet, text="apples")) == []
    assert ids(search(fleet, text="cherries")) == ["alpha"]
    (docs / "beta.md").unlink()
    assert ids(search(fleet, text="bananas")) == []
    gamma = docs / "gamma.md"
    alpha.rename(gamma)  # renamed, slug not yet changed: reported, not searchable
    found = search(fleet, text="cherries")
    assert ids(found) == [] and any("gamma.md:3: slug: 'alpha'" in p for p in found["problems"])
    gamma.write_text(gamma.read_text().replace("slug: alpha", "slug: gamma"))
    found = search(fleet, text="cherries")
    assert [r["path"] for r in found["results"]] == ["knowledge/documents/gamma.md"]
    # a new process, a new Fleet: the index on disk is current too
    assert run.json("knowledge", "search", "--text", "cherries")["total"] == 1


def test_a_corrupt_or_missing_index_is_rebuilt(fleet: Fleet, run: Cli) -> None:
    doc(fleet, "Alpha", "apples")
    assert search(fleet, text="apples")["total"] == 1
    db = fleet.root / ".aof" / "cache" / "knowledge.db"
    for damage in (
        lambda: db.write_bytes(b"this is not a database" * 100),
        lambda: db.write_bytes(db.read_bytes()[:1024]) if db.exists() else None,
        lambda: db.unlink(),
    ):
        fleet.knowledge.index.close()
        for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            extra.unlink(missing_ok=True)
        damage()
        assert run.json("knowledge", "search", "--text", "apples")["total"] == 1
    with sqlite3.connect(db) as conn:  # an index written by another aof version
        conn.execute("PRAGMA user_version=99")
    assert run.json("knowledge", "search", "--text", "apples")["total"] == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    out = run.json("knowledge", "reindex")
    assert out["indexed"] == 1 and out["rebuilt"].startswith("asked to")


def test_processes_racing_on_a_missing_index_agree(fleet: Fleet, aof_bin: str) -> None:
    """Eight searches make the missing index at once: each waits its turn (the switch to WAL
    is made under the index's lock), none fails with "database is locked"."""
    import subprocess

    for n in range(40):
        doc(fleet, f"Doc {n}", "shared words here")
    procs = [
        subprocess.Popen(
            [
                aof_bin,
                "--root",
                str(fleet.root),
                "knowledge",
                "search",
                "--text",
                "shared",
                "--json",
                "--limit",
                "100",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert json.loads(out)["total"] == 40


# --- concurrency and the daemon's view of hand edits -----------------------------------------


def test_same_title_at_once_gets_two_documents(fleet: Fleet, aof_bin: str) -> None:
    import subprocess

    procs = [
        subprocess.Popen(
            [
                aof_bin,
                "--root",
                str(fleet.root),
                "knowledge",
                "document",
                "create",
                "--title",
                "Same title",
                "--kind",
                "runbook",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    slugs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        slugs.append(json.loads(out)["slug"])
    assert sorted(slugs) == ["same-title", "same-title-2", "same-title-3"]
    assert git_clean(fleet.root)


def test_hand_edits_to_knowledge_are_validated_before_the_daemon_commits_them(
    fleet: Fleet,
) -> None:
    from aof.ops.edits import problem_of

    slug = doc(fleet, "Alpha", "apples")
    rel = f"knowledge/documents/{slug}.md"
    path = fleet.root / rel
    assert problem_of(fleet, rel) is None
    path.write_text(path.read_text().replace("kind: runbook", "kind: nonsense"))
    assert "kind: unknown document kind 'nonsense'" in (problem_of(fleet, rel) or "")
    (fleet.root / "knowledge" / "stray.md").write_text("---\nx: 1\n---\n")
    assert "knowledge/sources|documents|facts" in (problem_of(fleet, "knowledge/stray.md") or "")


def test_knowledge_survives_a_fresh_clone(fleet: Fleet, tmp_path: Path) -> None:
    doc(fleet, "Alpha", "apples")
    clone = tmp_path / "clone"
    git(fleet.root, "clone", "-q", str(fleet.root), str(clone))
    assert not (clone / ".aof").exists()
    other = Fleet(clone)
    assert ids(other.knowledge.search(text="apples")) == ["alpha"]
    shutil.rmtree(clone)


def test_search_arguments_are_checked(fleet: Fleet) -> None:
    with pytest.raises(ValidationError, match="type: unknown knowledge type 'docs'"):
        search(fleet, types=["docs"])
    with pytest.raises(ValidationError, match="limit: must be 1 or more"):
        search(fleet, limit=0)
    with pytest.raises(ValidationError, match="scope: must be one of"):
        search(fleet, scope="operational")


def test_two_readers_of_one_index_never_see_ghosts(fleet: Fleet) -> None:
    """Each index connection remembers what the index holds only while no other connection
    has written to it; otherwise a file another reader indexed, then deleted, would stay."""
    doc(fleet, "Alpha", "apples")
    other = Fleet(fleet.root).knowledge
    assert search(fleet, text="apples")["total"] == 1
    slug = doc(fleet, "Beta", "apples too")
    assert other.search(text="apples")["total"] == 2  # indexed Beta through its connection
    (fleet.root / "knowledge" / "documents" / f"{slug}.md").unlink()
    assert ids(search(fleet, text="apples")) == ["alpha"]
    assert ids(other.search(text="apples")) == ["alpha"]
