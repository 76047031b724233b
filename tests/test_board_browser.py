"""The board in a real browser: Debian's chromium driven by Playwright (the system
browser, nothing downloaded), against a real daemon on the shipped example city.
Screenshots at 1366×768 go to test-artifacts/board/."""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.daemon import Daemon, running_daemon

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "topology.yaml"
ARTIFACTS = ROOT / "test-artifacts" / "board"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="chromium not installed (scripts/bootstrap does)"
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("board"), EXAMPLE) as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield b
        finally:
            b.close()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    return context.new_page()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def login(page: Page, daemon: Daemon, token: str) -> None:
    page.goto(daemon.url + "/board")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#live")


def test_nothing_is_shown_without_a_token(daemon: Daemon, browser: Browser) -> None:
    page = new_page(browser)
    response = page.goto(daemon.url + "/board")
    assert response is not None and response.status == 401
    assert page.locator("#token").is_visible() and page.locator("#live").count() == 0
    for path in ("/board/live", "/board?by=phone&q=13900000001", "/stats", "/stats.csv"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(daemon.url + path, timeout=10)
        assert refused.value.code == 401, path
        body = refused.value.read().decode()
        assert 'id="token"' in body and "13900000001" not in body.replace("q=13900000001", "")
    page.fill("#token", "otk_not-a-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "令牌无效或已吊销。"
    assert page.locator("#live").count() == 0


def test_board_live_update_lookup_keyboard_and_language(daemon: Daemon, browser: Browser) -> None:
    agent = daemon.create_token("agent-board", "agent")
    page = new_page(browser)
    login(page, daemon, agent)
    [cookie] = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    assert page.locator("#no-outages").is_visible()

    # a report burst opens an outage: the open page shows it within 5 s, no reload
    for i in range(1, 11):
        status, body = daemon.call(
            "POST", "/api/v1/reports", {"subscriber": f"HY-01-{i:04d}", "code": 678}
        )
        assert status == 202, body
    opened_at = time.monotonic()
    _, listing = daemon.call("GET", "/api/v1/outages")
    [outage] = [o for o in listing["outages"] if o["root"] == "hy-01"]
    card = page.wait_for_selector(f"#outage-{outage['id']}", timeout=5000)
    assert card is not None
    assert time.monotonic() - opened_at < 5
    assert card.get_attribute("data-severity") == outage["severity"] == "S4"
    text = card.inner_text()
    assert "华苑小区1号楼" in text and "维护人员正在处理" in text and "恢复时限" in text
    shot(page, "board-zh-CN.png")

    # the keyboard reaches the lookup box; the answer says what to tell the caller
    page.keyboard.press("Tab")
    for _ in range(12):
        if page.evaluate("document.activeElement.id") == "q":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("华苑 1号楼 1单元 102")
    page.keyboard.press("Enter")
    results = page.wait_for_selector("#results")
    assert results is not None
    found = results.inner_text()
    assert "HY-01-0002" in found and f"在故障 {outage['id']} 范围内，请告知来电用户" in found
    shot(page, "board-lookup-zh-CN.png")

    # English: the same board, the same answer, in English
    page.click("#lang-switch")
    page.wait_for_selector(f"#outage-{outage['id']}")
    assert page.locator("html").get_attribute("lang") == "en"
    card_en = page.locator(f"#outage-{outage['id']}").inner_text()
    assert "Huayuan" in card_en or "华苑小区1号楼" in card_en
    assert "restore deadline" in card_en and "engineers are working" in card_en.lower()
    assert f"inside outage {outage['id']}, tell the caller" in page.locator("#results").inner_text()
    shot(page, "board-en.png")


def test_stats_page_charts_and_csv(daemon: Daemon, browser: Browser) -> None:
    viewer = daemon.create_token("manager-stats", "viewer")
    page = new_page(browser)
    login(page, daemon, viewer)  # a viewer reads the board (no lookup box) and the statistics
    assert page.locator("#q").count() == 0
    page.goto(daemon.url + "/stats")
    assert page.locator("h1").inner_text() == "故障统计"
    svgs = page.locator("svg[role=img]")
    assert svgs.count() == 5
    assert "S4" in svgs.nth(0).inner_html()  # the outage the other test opened, by severity
    shot(page, "stats-zh-CN.png")
    csv_text = page.request.get(daemon.url + "/stats.csv").text()
    assert csv_text.splitlines()[0] == "section,key,value"
    assert "by_severity,S4," in csv_text and "deadlines,share_met," in csv_text
    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "Outage statistics"
    bad = page.goto(daemon.url + "/stats?since=yesterday")
    assert bad is not None and bad.status == 422 and "since" in bad.text()
    daemon.revoke_token("manager-stats")  # the token revoked: its session ends at once
    gone = page.goto(daemon.url + "/board")
    assert gone is not None and gone.status == 401 and page.locator("#live").count() == 0
