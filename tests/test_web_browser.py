"""The dashboard in a real headless browser: Debian's chromium driven by selenium through
chromium-driver (no downloaded browser build), against a real `aof serve` process.

Signing in with the token; the board showing a task created by the CLI without a reload;
a question answered and a human gate approved in the browser, audited as the person; an
action on a task that moved meanwhile refused in the page with nothing changed; requests
without the session or from another origin refused. Waits are WebDriverWait conditions
with a generous timeout, never timed assertions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aof import Fleet

from .conftest import sub_env
from .support.served import Served
from .web_fleet import populate

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TOKEN = "browser-token-0123456789"
PERSON = "human:ada"
WAIT_S = 30

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        "chromium and chromedriver are not installed (make system installs them: "
        "apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


class Server(Served):
    """``aof serve --port 0`` on a fleet root, its token given through the environment."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, env=sub_env(AOF_SERVE_TOKEN=f"{TOKEN}={PERSON}"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def ids(fleet: Fleet) -> dict[str, str]:
    return populate(fleet)


@pytest.fixture
def server(root: Path, ids: dict[str, str]) -> Iterator[Server]:
    srv = Server(root)
    try:
        yield srv
    finally:
        srv.stop()


def wait(browser: Any, condition: Any, timeout: float = WAIT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)


def sign_in(browser: Any, server: Server, path: str = "/") -> None:
    browser.delete_all_cookies()
    browser.get(f"{server.url}/signin?token={TOKEN}&next={path}")
    wait(browser, lambda b: b.find_elements("css selector", "main"))
    assert browser.current_url == server.url + path, browser.current_url


def live(browser: Any) -> None:
    """Wait until the page's event stream is open (the header's dot turns on)."""
    wait(browser, lambda b: b.find_elements("css selector", "#live.on"))


def state_of(root: Path, tid: str) -> str:
    return Fleet(root).get_task(tid).state.value


def records(root: Path, tid: str) -> list[tuple[str, str]]:
    return [
        (r["action"], f"{r['actor']['kind']}:{r['actor']['id']}")
        for r in Fleet(root).audit.records()
        if r["entity"]["id"] == tid
    ]


def test_signing_in_opens_the_board_and_a_task_made_by_the_cli_appears_live(
    browser: Any, server: Server, root: Path, ids: dict[str, str]
) -> None:
    browser.delete_all_cookies()
    browser.get(server.url + "/")
    wait(browser, lambda b: "/signin" in b.current_url)  # no session: the sign-in page
    sign_in(browser, server)
    assert browser.find_element("css selector", f"#card-{ids['ready']}")
    cookie = browser.get_cookie("aof_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    live(browser)
    browser.execute_script("window.notReloaded = true")
    made = subprocess.run(
        [
            *(sys.executable, "-m", "aof", "--root", str(root)),
            *("task", "create", "Fresh from the CLI", "--ready", "--team", "web", "--json"),
        ],
        capture_output=True,
        text=True,
        env=sub_env(),
        check=True,
    )
    tid = re.search(r'"id": "(t-[0-9a-z]+)"', made.stdout)
    assert tid, made.stdout
    card = wait(browser, lambda b: b.find_elements("css selector", f"#card-{tid.group(1)}"))
    assert "Fresh from the CLI" in card[0].text
    column = card[0].find_element("xpath", "ancestor::div[@data-state]")
    assert column.get_attribute("data-state") == "ready"
    assert browser.execute_script("return window.notReloaded") is True


def test_a_question_answered_in_the_browser_unblocks_the_task_as_the_person(
    browser: Any, server: Server, root: Path, ids: dict[str, str]
) -> None:
    tid = ids["question"]
    sign_in(browser, server, "/attention")
    live(browser)
    item = browser.find_element("css selector", f"#att-{tid}")
    assert "Keep the old column or drop it?" in item.text
    item.find_element("css selector", "input[name=text]").send_keys("Drop it after the backup")
    item.find_element("css selector", ".action-answer button").click()
    wait(browser, lambda b: state_of(root, tid) == "ready")
    # the move is the change's commit point; its audit record follows it
    wait(browser, lambda b: ("answered", PERSON) in records(root, tid))
    body = Fleet(root).get_task(tid).body
    assert "Drop it after the backup" in body
    wait(browser, lambda b: not b.find_elements("css selector", f"#att-{tid}"))  # live


def test_a_human_gate_approved_in_the_browser_moves_the_task_on(
    browser: Any, server: Server, root: Path, ids: dict[str, str]
) -> None:
    tid = ids["gate"]
    sign_in(browser, server, f"/tasks/{tid}")
    live(browser)
    assert "design (human" in browser.find_element("css selector", ".task-meta").text
    form = browser.find_element("css selector", ".action-approve")
    form.find_element("css selector", "input[name=note]").send_keys("Looks right")
    form.find_element("css selector", "button").click()
    wait(browser, lambda b: state_of(root, tid) == "done")
    wait(browser, lambda b: ("approved", PERSON) in records(root, tid))  # after the move
    badge = wait(browser, lambda b: b.find_elements("css selector", ".task-meta .state-done"))
    assert badge[0].text == "done"  # the page followed without a reload


def test_an_action_on_a_task_that_moved_meanwhile_shows_an_error_and_changes_nothing(
    browser: Any, server: Server, root: Path, ids: dict[str, str]
) -> None:
    tid = ids["budget"]
    sign_in(browser, server, f"/tasks/{tid}")
    live(browser)
    before = Fleet(root).get_task(tid).rev
    # The page showed the task in review; it has moved since (blocked now).
    browser.execute_script(
        "document.querySelectorAll('input[name=expect]').forEach(i => i.value = 'review')"
    )
    browser.find_element("css selector", ".action-retry button").click()
    error = wait(
        browser,
        lambda b: [
            e for e in b.find_elements("css selector", ".actions .error") if e.is_displayed()
        ],
    )
    assert "moved meanwhile" in error[0].text and "nothing was changed" in error[0].text
    task = Fleet(root).get_task(tid)
    assert task.state.value == "blocked" and task.rev == before
    assert not [a for a, _ in records(root, tid) if a in ("unblocked", "moved")]


def _post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return int(refused.code)


def test_requests_without_the_session_or_from_another_origin_are_refused(
    browser: Any, server: Server, root: Path, ids: dict[str, str]
) -> None:
    tid = ids["question"]
    sign_in(browser, server, f"/tasks/{tid}")
    csrf = browser.find_element("css selector", "input[name=csrf]").get_attribute("value")
    session = browser.get_cookie("aof_session")["value"]
    form = f"csrf={csrf}&text=forged&expect=blocked".encode()
    url = f"{server.url}/api/tasks/{tid}/answer"
    kind = {"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"}
    assert _post(url, form, kind) == 401  # no session
    forged = {**kind, "Cookie": f"aof_session={session}", "Origin": "http://evil.example"}
    assert _post(url, form, forged) == 403  # the session, from another site
    no_csrf = {**kind, "Cookie": f"aof_session={session}", "Origin": server.url}
    assert _post(url, b"text=forged&expect=blocked", no_csrf) == 403
    assert state_of(root, tid) == "blocked"
    assert not [a for a, _ in records(root, tid) if a == "answered"]
    # The browser itself, its cookie gone, is sent to the sign-in page.
    browser.delete_all_cookies()
    browser.get(f"{server.url}/attention")
    wait(browser, lambda b: "/signin" in b.current_url)
