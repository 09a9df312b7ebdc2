"""The dashboard's views: their reads of a real fleet root (plain functions of a Fleet),
and the pages and JSON twins through the server (Starlette's TestClient, signed in)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet
from aof.web.pages import attention, boarddata, costdata, fleetdata, taskdata
from aof.web.pages.render import markdown, safe_url, snippet

sys.path.insert(0, str(Path(__file__).parent))
from web_fleet import claimed, populate, usage


@pytest.fixture
def ids(fleet: Fleet) -> dict[str, str]:
    return populate(fleet)


def cards(data: dict[str, object]) -> dict[str, list[str]]:
    columns = data["columns"]
    assert isinstance(columns, dict)
    return {s: [r["id"] for r in rows] for s, rows in columns.items()}


# --- board -------------------------------------------------------------------------------


def test_the_board_has_a_column_per_open_state_and_counts_the_rest(
    fleet: Fleet, ids: dict[str, str]
) -> None:
    fleet.cancel(ids["backlog"], reason="not now")
    data = boarddata.board(fleet, boarddata.Filters())
    assert list(data["columns"]) == [
        "backlog", "ready", "in-progress", "review", "blocked", "deadletter",
    ]  # fmt: skip
    got = cards(data)
    assert got["ready"] == [ids["ready"]] and got["review"] == [ids["gate"]]
    assert sorted(got["blocked"]) == sorted([ids["question"], ids["budget"]])
    assert got["deadletter"] == [ids["dead"]] and got["backlog"] == []
    assert data["counts"]["cancelled"] == 1 and data["counts"]["done"] == 0
    assert list(data["counts"]) == [
        "backlog", "ready", "in-progress", "review", "blocked", "done", "cancelled", "deadletter",
    ]  # fmt: skip


def test_the_board_json_is_aof_board_json(run: object, fleet: Fleet, ids: dict[str, str]) -> None:
    from tests.conftest import Cli

    assert isinstance(run, Cli)
    assert boarddata.board(fleet, boarddata.Filters()) == run.json("board")
    by = boarddata.board(fleet, boarddata.Filters(by="team"))
    assert by == run.json("board", "--by", "team")
    assert list(by["lanes"]) == ["data", "web"]


def test_filters_narrow_every_column_and_the_counts(fleet: Fleet, ids: dict[str, str]) -> None:
    fleet.cancel(ids["backlog"], reason="not now")  # team web
    web = boarddata.board(fleet, boarddata.Filters(team="web"))
    assert cards(web)["ready"] == [ids["ready"]] and cards(web)["blocked"] == []
    assert web["counts"]["cancelled"] == 1 and web["counts"]["blocked"] == 0
    data = boarddata.board(fleet, boarddata.Filters(team="data"))
    assert data["counts"]["cancelled"] == 0
    high = boarddata.board(fleet, boarddata.Filters(priority="high"))
    assert sum(high["counts"].values()) == 1
    text = boarddata.board(fleet, boarddata.Filters(q="footer"))
    assert cards(text)["review"] == [ids["gate"]] and sum(text["counts"].values()) == 1


def test_filters_from_a_query_string_ignore_what_they_do_not_know() -> None:
    f = boarddata.Filters.parse({"by": "host", "priority": "urgent", "team": " web ", "q": ""})
    assert f == boarddata.Filters(team="web")
    assert f.query(show="done") == {"team": "web", "show": "done"}


def test_an_invalid_file_is_a_card_of_its_column(fleet: Fleet, ids: dict[str, str]) -> None:
    bad = fleet.root / "tasks" / "ready" / "t-bad001-broken.md"
    bad.write_text("---\nid: t-bad001\npriority: urgent\n---\n", encoding="utf-8")
    data = boarddata.board(fleet, boarddata.Filters())
    row = next(r for r in data["columns"]["ready"] if r.get("invalid"))
    assert row["path"] == "tasks/ready/t-bad001-broken.md" and "schema" in row["reason"]
    assert data["counts"]["ready"] == 2


def test_the_board_page_data_has_each_cards_cost_and_a_terminal_state_on_request(
    fleet: Fleet, ids: dict[str, str]
) -> None:
    fleet.cancel(ids["budget"], reason="too dear")
    ctx = boarddata.page_data(fleet, boarddata.Filters(), show="cancelled")
    assert ctx["shown"]["state"] == "cancelled"
    assert [r["id"] for r in ctx["shown"]["rows"]] == [ids["budget"]]
    assert ctx["cost"] == {ids["budget"]: 2.1}
    assert ctx["choices"]["teams"] == ["data", "web"]
    assert boarddata.page_data(fleet, boarddata.Filters(), show="ready")["shown"] is None


# --- attention ---------------------------------------------------------------------------


def test_attention_puts_each_waiting_task_in_its_lane_with_its_actions(
    fleet: Fleet, ids: dict[str, str]
) -> None:
    data = attention.attention(fleet)
    lanes = {
        lane: [(i["id"], i["actions"]) for i in items] for lane, items in data["lanes"].items()
    }
    assert lanes["respond"] == [(ids["question"], ["answer", "cancel"])]
    assert lanes["review"] == [(ids["gate"], ["approve", "reject"])]
    assert lanes["blocked"] == [(ids["budget"], ["retry", "cancel"])]
    assert lanes["deadletter"] == [(ids["dead"], ["resurrect", "cancel"])]
    assert lanes["merge"] == [] and lanes["stuck"] == []
    assert data["total"] == 4
    question = data["lanes"]["respond"][0]
    assert question["reason"] == "Keep the old column or drop it?"
    assert data["lanes"]["blocked"][0]["kind"] == "budget"
    assert data["lanes"]["deadletter"][0]["reason"] == "the queue's API changed"


def test_a_stuck_agent_waits_on_a_person_until_its_task_moves(fleet: Fleet) -> None:
    tid, token = claimed(fleet, "Long job")
    fleet.flag_stuck(tid, token, idle_s=900)
    stuck = attention.attention(fleet)["lanes"]["stuck"]
    assert [(i["id"], i["actions"]) for i in stuck] == [(tid, ["cancel"])]
    assert "900 s" in stuck[0]["reason"]
    fleet.progress(tid, note="back at it", token=token)
    assert attention.attention(fleet)["lanes"]["stuck"] == []


def test_answering_empties_the_respond_lane(fleet: Fleet, ids: dict[str, str]) -> None:
    fleet.answer(ids["question"], text="Drop it")
    assert attention.attention(fleet)["counts"]["respond"] == 0


# --- the task page -----------------------------------------------------------------------


def test_the_task_page_has_the_file_history_runs_and_actions(
    fleet: Fleet, ids: dict[str, str]
) -> None:
    run_dir = fleet.root / "runs" / ids["budget"] / "1"
    run_dir.mkdir(parents=True)
    events = [{"ts": "2026-11-21T09:01:00Z", "event": "text", "text": "reading the importer"}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    data = taskdata.task_page(fleet, ids["budget"])
    assert data["task"]["state"] == "blocked" and data["frontmatter"]["spent"]["usd"] == 2.1
    assert [r["action"] for r in data["history"]["records"]] == [
        "created", "promoted", "claimed", "run_ended",
    ]  # fmt: skip
    assert data["runs"][0]["attempt"] == 1 and "reading the importer" in data["runs"][0]["log"]
    assert data["diff"]["text"] is None and data["diff"]["branch"] == f"aof/{ids['budget']}"
    assert taskdata.available(data["task"], data["frontmatter"]) == ["retry", "cancel"]
    gate = taskdata.task_page(fleet, ids["gate"])
    assert taskdata.available(gate["task"], gate["frontmatter"]) == ["approve", "reject", "cancel"]
    assert gate["gate"]["current"] == "design" and gate["gate"]["kind"] == "human"


def test_a_run_log_that_is_a_link_is_not_followed(fleet: Fleet, ids: dict[str, str]) -> None:
    secret = fleet.root.parent / "secret.txt"
    secret.write_text("password=hunter2\n")
    run_dir = fleet.root / "runs" / ids["running"] / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").symlink_to(secret)
    (run_dir / "stdout.log").symlink_to(secret)
    data = taskdata.task_page(fleet, ids["running"])
    assert "hunter2" not in json.dumps(data["runs"])


def test_the_diff_is_the_branch_against_its_base(fleet: Fleet, tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]

    def git(*args: str) -> None:
        subprocess.run(["git", *ident, *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "app.py").write_text("print('hi')\n")
    git("add", "-A")
    git("commit", "-qm", "start")
    fleet.registry.create("team", "core", {"name": "Core", "mission": "m", "ownership": "o"})
    fleet.registry.create("project", "app", {"team": "core", "root_path": str(repo)})
    tid, _ = claimed(fleet, "Say hello louder", project="app")
    git("checkout", "-q", "-b", f"aof/{tid}")
    (repo / "app.py").write_text("print('HELLO')\n")
    git("commit", "-qam", "louder")
    diff = taskdata.task_page(fleet, tid)["diff"]
    assert diff["base"] == "main" and diff["why"] is None
    assert "+print('HELLO')" in diff["text"] and "-print('hi')" in diff["text"]


def test_an_unknown_task_is_not_found(fleet: Fleet) -> None:
    from aof.errors import NotFound

    with pytest.raises(NotFound):
        taskdata.task_page(fleet, "t-zzzzzz")


# --- cost, agents, fleet, audit, knowledge -----------------------------------------------


def test_cost_sums_what_tasks_spent_by_team_and_month_against_budgets(
    fleet: Fleet, ids: dict[str, str]
) -> None:
    fleet.registry.update("team", "data", {"budget": {"usd_month": 10}})
    tid, token = claimed(fleet, "Cheap fix", team="web")
    fleet.settle_run(
        tid, token, outcome="killed", reason="stopped", spent={"usd": 0.4}, usage=usage(0.4, 0)
    )
    data = costdata.cost(fleet)
    assert data["month"] == "2026-11"
    assert data["total"] == {
        "usd": 2.5,
        "reported_usd": 2.5,
        "estimated_usd": 0.0,
        "runs": 2,
        "unknown_runs": 0,
        "tokens": 52000,
    }
    from aof.fleetapi import cost as ledger  # what `aof cost --by team --json` prints

    rows = ledger(fleet, "2026-11", "team")["rows"]
    assert {r["key"]: (r["cost_usd"], r["runs"]) for r in rows} == {
        name: (row["usd"], row["runs"]) for name, row in data["by"]["team"].items()
    }
    assert data["by"]["team"]["data"]["usd"] == 2.1 and data["by"]["team"]["web"]["usd"] == 0.4
    assert data["months"] == {"2026-11": 2.5}
    assert data["budgets"] == [
        {"kind": "team", "slug": "data", "usd_month": 10.0, "used_usd": 2.1, "pct": 21.0}
    ]
    assert costdata.cost(fleet, month="2026-10")["total"]["usd"] == 0


def test_agents_fleet_audit_and_knowledge_are_the_cli_shapes(
    run: object, fleet: Fleet, ids: dict[str, str]
) -> None:
    from tests.conftest import Cli

    assert isinstance(run, Cli)
    assert fleetdata.agents(fleet) == run.json("agent", "list")
    view = fleetdata.fleet_view(fleet)
    overview = run.json("fleet", "overview")  # at the wall clock's time: the same keys
    assert set(overview) < set(view) and view["counts"] == overview["counts"]
    assert [t["slug"] for t in view["teams"]] == ["data", "web"]
    assert view["daemon"]["running"] is False and "degraded" in view["health"]
    records = fleetdata.audit(fleet, {"task": ids["question"]})
    assert records == run.json("audit", "list", "--task", ids["question"])
    assert fleetdata.audit_filters({"actor": " human:tester ", "bogus": "x", "text": ""}) == {
        "actor": "human:tester"
    }
    assert fleetdata.knowledge(fleet, None) == run.json("knowledge", "search", "--limit", "50")


# --- rendering ---------------------------------------------------------------------------


def test_markdown_is_rendered_without_raw_html_or_script_links() -> None:
    html = str(markdown("**bold** <script>alert(1)</script> [x](javascript:alert(1))"))
    assert "<strong>bold</strong>" in html and "<script>" not in html
    assert "&lt;script&gt;" in html and 'href="javascript' not in html
    assert safe_url("javascript:alert(1)") == "" and safe_url("https://x.test/1") != ""
    assert str(snippet("a **<b>** c")) == "a <mark>&lt;b&gt;</mark> c"


# --- through the server ------------------------------------------------------------------

TOKEN = "pages-token-0123456789"


@pytest.fixture
def client(root: Path, ids: dict[str, str]) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from aof.web.app import build_app

    app = build_app(root, tokens={TOKEN: "human:ada"}, actor="human:ada")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        assert c.get("/signin", params={"token": TOKEN}).status_code == 303
        yield c


PAGES = ["/", "/?by=team", "/?by=project&priority=high", "/attention", "/agents", "/fleet"]
PAGES += ["/cost", "/cost?month=2026-10", "/audit?actor=human:tester", "/knowledge?q=launch"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_complete_without_javascript(client: Any, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<main>" in page.text and "human:ada" in page.text
    assert 'sse-connect="/api/events"' in page.text and "setInterval" not in page.text


def test_the_board_page_shows_cards_with_their_facts_and_links_done_work(
    client: Any, ids: dict[str, str]
) -> None:
    page = client.get("/").text
    for tid in ids.values():
        assert f'id="card-{tid}"' in page
    assert "$2.10" in page and "⚙ coder-1" in page and "gate design (human)" in page
    assert 'href="/?show=done"' in page
    fragment = client.get("/?fragment=board&team=web").text
    assert fragment.startswith('\n<section id="board"') or fragment.lstrip().startswith(
        '<section id="board"'
    )
    assert "<html" not in fragment and ids["ready"] in fragment and ids["question"] not in fragment
    assert 'hx-get="/?team=web&amp;fragment=board"' in fragment


def test_the_task_page_has_the_body_history_and_the_actions_of_its_state(
    client: Any, ids: dict[str, str]
) -> None:
    page = client.get(f"/tasks/{ids['gate']}").text
    assert "Redesign the footer" in page and "New footer" in page  # the completion summary
    assert f'action="/api/tasks/{ids["gate"]}/approve"' in page
    assert f'action="/api/tasks/{ids["gate"]}/reject"' in page
    assert 'name="expect" value="review"' in page and "/answer" not in page
    assert "completed" in page and "human:tester" in page  # the history
    missing = client.get("/tasks/t-zzzzzz")
    assert missing.status_code == 404 and "t-zzzzzz" in missing.text


def test_what_people_wrote_is_escaped_everywhere(client: Any, fleet: Fleet) -> None:
    evil = '<img src=x onerror="alert(1)">'
    task = fleet.create_task(
        f"Title {evil}", body=f"## Objective\n\n{evil} [x](javascript:alert(1))"
    )
    token = (fleet.claim(fleet.promote(task.id).id, "coder-1").lease or {})["token"]
    fleet.block(task.id, question=f"Question {evil}", token=token)
    for path in ("/", "/attention", f"/tasks/{task.id}", "/audit"):
        page = client.get(path).text
        assert "<img src=x" not in page and 'href="javascript' not in page, path
        assert "&lt;img src=x" in page, path


def test_an_action_form_posted_without_javascript_comes_back_to_its_page(
    client: Any, root: Path, ids: dict[str, str]
) -> None:
    page = client.get("/attention").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        f"/api/tasks/{ids['question']}/answer",
        data={"csrf": csrf, "text": "Drop it", "expect": "blocked", "next": "/attention"},
        headers={"Origin": "http://testserver", "Accept": "text/html"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/attention"
    assert Fleet(root).get_task(ids["question"]).state.value == "ready"
    assert ids["question"] not in client.get("/attention").text


def test_the_json_twins_are_the_views_reads(client: Any, fleet: Fleet, ids: dict[str, str]) -> None:
    assert client.get("/api/board?by=team").json() == boarddata.board(
        fleet, boarddata.Filters(by="team")
    )
    assert client.get("/api/attention").json() == attention.attention(fleet)
    month = costdata.cost(fleet, month="2026-11")  # the server's clock is the wall clock
    assert client.get("/api/cost?month=2026-11").json() == month and month["total"]["usd"] == 2.1
    assert client.get("/api/agents").json() == fleetdata.agents(fleet)
    assert set(client.get("/api/fleet").json()) >= {"counts", "teams", "hosts", "daemon"}
    records = client.get(f"/api/audit?task={ids['dead']}&limit=2").json()
    assert records == fleetdata.audit(fleet, {"task": ids["dead"]}, limit=2) and len(records) == 2
    assert client.get("/api/knowledge?q=nothing").json()["total"] == 0
    client.cookies.clear()
    assert client.get("/api/board").status_code == 401
