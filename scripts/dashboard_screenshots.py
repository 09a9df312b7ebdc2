#!/usr/bin/env python3
"""Screenshots of each dashboard view for docs/dashboard.md (docs/img/dashboard-*.png).

    .venv/bin/python scripts/dashboard_screenshots.py

Builds a demo fleet root in a temporary directory (the tests' fleet of tasks waiting on
people, plus spending and a budget), starts `aof serve` on it, and photographs each page in
Debian's headless chromium (selenium and chromium-driver, as tests/test_web_browser.py).
Rerunnable: the images are overwritten.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from aof import Fleet  # noqa: E402
from tests.test_web_browser import CHROMEDRIVER, CHROMIUM, TOKEN, Server  # noqa: E402
from tests.web_fleet import claimed, populate, usage  # noqa: E402

OUT = REPO / "docs" / "img"
WIDTH, HEIGHT = 1400, 900


def demo(base: Path) -> tuple[Path, dict[str, str]]:
    fleet = Fleet.init(base / "fleet", actor="human:ada", name="acme")
    fleet = Fleet(fleet.root, actor="human:ada")
    ids = populate(fleet)
    fleet.registry.update("team", "data", {"budget": {"usd_month": 25}})
    fleet.registry.update("team", "web", {"budget": {"usd_month": 10}})
    for i, (title, usd) in enumerate((("Tune the search ranking", 3.4), ("Add an RSS feed", 1.2))):
        tid, token = claimed(fleet, title, team="web" if i else "data", priority="normal")
        fleet.settle_run(
            tid,
            token,
            outcome="killed",
            reason="stopped",
            spent={"usd": usd},
            usage=usage(usd, int(usd * 40_000)),
        )
    for title in ("Write the changelog", "Rotate the API keys", "Profile the checkout"):
        fleet.promote(fleet.create_task(title, team="web").id)
    fleet.answer(ids["question"], text="Drop it after the nightly backup")
    token = claimed(fleet, "Migrate the session store", team="data")[1]
    fleet.block(
        fleet.list_tasks(states=["in-progress"])[-1]["id"],
        question="Redis or Postgres?",
        token=token,
    )
    return fleet.root, ids


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root, ids = demo(Path(tmp))
        server = Server(root)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}",
                     f"--user-data-dir={tmp}/profile"):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(f"{server.url}/signin?token={TOKEN}")
            pages = {
                "board": "/",
                "board-lanes": "/?by=team",
                "attention": "/attention",
                "task": f"/tasks/{ids['budget']}",
                "agents": "/agents",
                "fleet": "/fleet",
                "cost": "/cost",
                "audit": "/audit",
                "knowledge": "/knowledge",
            }
            for name, path in pages.items():
                driver.get(server.url + path)
                time.sleep(0.5)  # the event stream's dot: a picture, not a test
                driver.save_screenshot(str(OUT / f"dashboard-{name}.png"))
                print(f"docs/img/dashboard-{name}.png")
        finally:
            driver.quit()
            server.stop()


if __name__ == "__main__":
    main()
