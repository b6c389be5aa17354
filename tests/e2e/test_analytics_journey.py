"""Analytics consent, end to end in real Chromium, with the browser guard watching every
request: while analytics is configured, a visitor who has not answered or who refuses
loads nothing from another host; a visitor who accepts contacts exactly the configured
origin (a stub analytics server started here, standing in for Plausible), and no other;
changing their mind on /legal/cookies/ stops it again."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import BrowserGuard

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SITE = "portal.test"
COOKIES = "Cookies"

# What Plausible's script does, in short: report a page view for data-domain to its own
# origin's /api/event.
STUB_SCRIPT = """
(() => {
  const me = document.currentScript;
  const body = JSON.stringify({ n: "pageview", u: location.href, d: me.dataset.domain });
  fetch(new URL("/api/event", me.src), { method: "POST", mode: "no-cors", body });
})();
"""


class StubAnalytics(ThreadingHTTPServer):
    """An analytics server on 127.0.0.1 that records what reaches it."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        super().__init__(("127.0.0.1", 0), _StubHandler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StubHandler(BaseHTTPRequestHandler):
    server: StubAnalytics

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.seen.append(("GET", self.path, ""))
        if self.path == "/js/script.js":
            self._answer(200, STUB_SCRIPT.encode(), "text/javascript")
        else:
            self._answer(404, b"", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(("POST", self.path, self.rfile.read(length).decode()))
        self._answer(202, b"ok", "text/plain")

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def stub(settings) -> Iterator[StubAnalytics]:
    """The stub, and the live server configured to use it as its Plausible origin."""
    server = StubAnalytics()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PORTAL_ANALYTICS_PROVIDER = "plausible"
    settings.PORTAL_ANALYTICS_SITE_ID = SITE
    settings.PORTAL_ANALYTICS_ORIGIN = server.origin
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def settle(page: Page) -> None:
    """Let a page's late requests (a script loaded after the load event) go out."""
    page.wait_for_load_state("networkidle")


def test_a_visitor_who_refuses_or_never_answers_loads_nothing_from_another_host(
    page: Page, browser_guard: BrowserGuard, stub: StubAnalytics
):
    # Never answered: the notice asks, and nothing leaves the host.
    for url in ("/", "/models/", "/legal/privacy/"):
        page.goto(url)
        settle(page)
        browser_guard.assert_clean()
    notice = page.get_by_role("complementary", name=COOKIES)
    expect(notice).to_contain_text("Plausible Analytics")

    notice.get_by_role("button", name="Refuse analytics").click()
    expect(page).to_have_url(re.compile(r"/legal/privacy/$"))
    expect(page.get_by_role("complementary", name=COOKIES)).to_have_count(0)
    for url in ("/", "/models/", "/legal/cookies/", "/legal/service-providers/"):
        page.goto(url)
        settle(page)
        browser_guard.assert_clean()
    expect(page.get_by_text("you have refused it")).to_be_visible()
    assert stub.seen == []
    assert not [c for c in page.context.cookies() if c["name"].startswith(("_ga", "_pk"))]


def test_a_visitor_who_accepts_contacts_exactly_the_configured_origin(
    page: Page, browser_guard: BrowserGuard, stub: StubAnalytics
):
    page.goto("/models/")
    settle(page)
    browser_guard.assert_clean()
    assert stub.seen == []

    with page.expect_request(f"{stub.origin}/api/event"):
        page.get_by_role("complementary", name=COOKIES).get_by_role(
            "button", name="Accept analytics"
        ).click()
    expect(page).to_have_url(re.compile(r"/models/$"))
    settle(page)

    # Every request that left the live server went to the stub, and nothing else.
    foreign = list(browser_guard.foreign_requests)
    assert foreign and all(url.startswith(stub.origin + "/") for url in foreign), foreign
    assert [(method, path) for method, path, _ in stub.seen] == [
        ("GET", "/js/script.js"),
        ("POST", "/api/event"),
    ]
    event = json.loads(stub.seen[1][2])
    assert event["d"] == SITE and event["u"].endswith("/models/")
    # ...and the page's CSP allowed it: no violation, no console error.
    problems = browser_guard.problems()
    assert set(problems) == {"requests off the live server"}, problems

    # Changing their mind on the cookies page stops it.
    browser_guard.forget()
    stub.seen.clear()
    page.goto("/legal/cookies/")
    settle(page)
    browser_guard.forget()  # this page still loaded it: the visitor had accepted
    stub.seen.clear()
    expect(page.locator("#analytics-choice")).to_contain_text("analytics accepted")
    page.get_by_role("button", name="Refuse analytics").click()
    expect(page.locator("#analytics-choice")).to_contain_text("analytics refused")
    for url in ("/", "/models/"):
        page.goto(url)
        settle(page)
    browser_guard.assert_clean()
    assert stub.seen == []


def test_the_choice_works_without_javascript(browser, live_server, stub: StubAnalytics):
    """Plain forms: with scripts off the visitor still accepts and refuses."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/legal/cookies/")
        page.locator("main").get_by_role("button", name="Accept analytics").click()
        expect(page.locator("#analytics-choice")).to_contain_text("analytics accepted")
        page.locator("main").get_by_role("button", name="Refuse analytics").click()
        expect(page.locator("#analytics-choice")).to_contain_text("analytics refused")
    finally:
        context.close()
