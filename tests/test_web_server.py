"""`aof serve`'s front gate and task API, in process (Starlette's TestClient): signing in,
bearer clients, cross-site refusals, actions audited as the person, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from aof import Fleet
from aof.web.app import build_app

TOKEN = "alice-token-0123456789"
OTHER = "bob-token-0123456789xx"
METRICS = "scraper-token-0123456789"
ORIGIN = "http://testserver"


@pytest.fixture
def client(root: Path) -> Iterator[TestClient]:
    app = build_app(
        root,
        tokens={TOKEN: "human:alice", OTHER: "human:bob"},
        actor="human:alice",
        metrics_token=METRICS,
    )
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as c:
        yield c


def signed_in(client: TestClient) -> str:
    """Sign in with the link's token; return the session's CSRF token (from an API call's
    state: the pages carry it in a meta tag)."""
    answer = client.get("/signin", params={"token": TOKEN, "next": "/api/tasks"})
    assert answer.status_code == 303 and answer.headers["location"] == "/api/tasks"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    sessions = client.app.app.state.sessions  # type: ignore[attr-defined]
    session = sessions.get(client.cookies["aof_session"])
    return str(session.csrf)


def blocked_task(fleet: Fleet) -> str:
    task = fleet.create_task("Ask first", ready=True)
    token = str((fleet.claim(task.id, "coder-1").lease or {})["token"])
    fleet.block(task.id, question="Which region?", token=token)
    return str(task.id)


def audit_records(root: Path) -> list[dict[str, Any]]:
    lines = []
    for day in sorted((root / "audit").glob("*/*/*.jsonl")):
        lines += [json.loads(x) for x in day.read_text().splitlines() if x.strip()]
    return lines


def test_nothing_without_a_token_or_a_session(client: TestClient) -> None:
    assert client.get("/api/tasks").status_code == 401
    wrong = client.get("/api/tasks", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/"
    bad = client.get("/signin", params={"token": "guess-guess-guess-1"})
    assert (
        bad.status_code == 401 and "not valid" in bad.text and "aof_session" not in client.cookies
    )
    assert client.get("/signin").status_code == 200  # the form
    client.cookies.set("aof_session", "forged")
    assert client.get("/api/tasks").status_code == 401


def test_a_bearer_client_lists_and_shows_tasks_in_the_cli_shapes(
    client: TestClient, fleet: Fleet
) -> None:
    task = fleet.create_task("Add rate limiting", ready=True, priority="high")
    fleet.create_task("Later", ready=False)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rows = client.get("/api/tasks", headers=auth).json()
    assert sorted(r["title"] for r in rows) == ["Add rate limiting", "Later"]
    assert rows == fleet.list_tasks()
    ready = client.get("/api/tasks", params={"state": "ready"}, headers=auth).json()
    assert [r["id"] for r in ready] == [task.id]
    shown = client.get(f"/api/tasks/{task.id}", headers=auth).json()
    assert shown == fleet.task_json(fleet.get_task(task.id))
    missing = client.get("/api/tasks/t-zzzzzz", headers=auth)
    assert missing.status_code == 404 and "t-zzzzzz" in missing.json()["message"]
    nope = client.get("/api/tasks", params={"state": "doing"}, headers=auth)
    assert nope.status_code == 400 and "'doing'" in nope.json()["message"]
    assert client.get("/api/nowhere", headers=auth).status_code == 404


def test_an_answer_from_the_browser_unblocks_the_task_as_the_person(
    client: TestClient, fleet: Fleet, root: Path
) -> None:
    tid = blocked_task(fleet)
    csrf = signed_in(client)
    answer = client.post(
        f"/api/tasks/{tid}/answer",
        data={"text": "eu-west-1", "expect": "blocked", "csrf": csrf},
        headers={"origin": ORIGIN},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "ready"
    assert "eu-west-1" in fleet.get_task(tid).body
    last = audit_records(root)[-1]
    assert last["actor"] == {"kind": "human", "id": "alice"} and last["entity"]["id"] == tid


def test_cross_site_and_csrf_less_posts_are_refused_and_change_nothing(
    client: TestClient, fleet: Fleet
) -> None:
    tid = blocked_task(fleet)
    csrf = signed_in(client)
    url, form = f"/api/tasks/{tid}/answer", {"text": "x", "csrf": csrf}
    forged = client.post(url, data=form, headers={"origin": "https://evil.example"})
    assert forged.status_code == 403 and forged.json()["error"] == "cross-site"
    assert client.post(url, data=form).status_code == 403  # no Origin, no Referer
    no_csrf = client.post(url, data={"text": "x"}, headers={"origin": ORIGIN})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf"
    wrong = client.post(url, data={"text": "x"}, headers={"origin": ORIGIN, "x-csrf-token": "no"})
    assert wrong.status_code == 403
    referer = client.post(
        url, data={"text": "x"}, headers={"referer": f"{ORIGIN}/tasks/{tid}", "x-csrf-token": csrf}
    )
    assert referer.status_code == 200  # a same-origin Referer stands in for a missing Origin
    assert fleet.get_task(tid).state.value == "ready"


def test_an_action_on_a_task_that_moved_meanwhile_is_refused(
    client: TestClient, fleet: Fleet
) -> None:
    tid = blocked_task(fleet)
    fleet.unblock(tid, reason="fixed elsewhere")  # someone else moved it
    csrf = signed_in(client)
    before = fleet.get_task(tid)
    json_answer = client.post(
        f"/api/tasks/{tid}/answer",
        data={"text": "late", "expect": "blocked", "csrf": csrf},
        headers={"origin": ORIGIN, "hx-request": "true"},
    )
    assert json_answer.status_code == 409
    assert "moved meanwhile: it is now ready, not blocked" in json_answer.json()["message"]
    page = client.post(
        f"/api/tasks/{tid}/answer",
        data={"text": "late", "expect": "blocked", "csrf": csrf, "next": f"/tasks/{tid}"},
        headers={"origin": ORIGIN, "accept": "text/html"},
    )
    assert page.status_code == 409 and "moved meanwhile" in page.text
    assert f'href="/tasks/{tid}"' in page.text
    assert fleet.get_task(tid).rev == before.rev


def test_form_posts_go_back_to_next_and_each_action_works(client: TestClient, fleet: Fleet) -> None:
    csrf = signed_in(client)
    hdr = {"origin": ORIGIN}

    def post(tid: str, action: str, **form: str) -> Any:
        return client.post(f"/api/tasks/{tid}/{action}", data={"csrf": csrf, **form}, headers=hdr)

    parked = fleet.create_task("Parked", ready=False)
    moved = post(str(parked.id), "ready", next=f"/tasks/{parked.id}")
    assert moved.status_code == 303 and moved.headers["location"] == f"/tasks/{parked.id}"
    assert fleet.get_task(parked.id).state.value == "ready"
    gone = post(str(parked.id), "cancel", reason="superseded", next="//evil.example/")
    assert gone.status_code == 200 and gone.json()["state"] == "cancelled"  # no off-site hop
    assert post(str(parked.id), "cancel").status_code == 400  # terminal, and no reason given
    tid = blocked_task(fleet)
    retried = post(tid, "retry", reason="try again")
    assert retried.json()["state"] == "ready"
    again = post(tid, "retry")
    assert again.status_code == 409 and "retry takes a blocked task" in again.json()["message"]
    assert post(tid, "launch").status_code == 404
    assert post(tid, "answer").json()["message"] == "answer: text is required"


def test_huge_and_malformed_requests(client: TestClient, fleet: Fleet) -> None:
    tid = blocked_task(fleet)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    huge = client.post(f"/api/tasks/{tid}/answer", content=b"x" * (300 * 1024), headers=auth)
    assert huge.status_code == 413
    odd = client.post(
        f"/api/tasks/{tid}/answer",
        content=b"{not json",
        headers={**auth, "content-type": "application/json"},
    )
    assert odd.status_code == 400 and "text is required" in odd.json()["message"]
    ok = client.post(f"/api/tasks/{tid}/answer", json={"text": "bearer, no CSRF"}, headers=auth)
    assert ok.status_code == 200 and ok.json()["state"] == "ready"
    assert fleet.get_task(tid).state.value == "ready"


def test_metrics_need_loopback_or_a_token(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    assert client.get("/metrics").status_code == 401  # the test client is not loopback
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
    assert scraped.status_code == 200
    names = {f.name for f in text_string_to_metric_families(scraped.text)}
    assert "aof_tasks" in names
    assert (
        client.get("/api/tasks", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 401
    )


def test_signing_out_ends_the_session(client: TestClient) -> None:
    csrf = signed_in(client)
    assert client.get("/api/tasks").status_code == 200
    out = client.post("/signout", data={"csrf": csrf}, headers={"origin": ORIGIN})
    assert out.status_code == 303
    client.cookies.clear()
    assert client.get("/api/tasks").status_code == 401
