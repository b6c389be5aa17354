"""Fixtures of the end-to-end tests: one Chromium per test session; every test gets a
fresh context and page, and a `BrowserGuard` that fails the test when the browser saw
something go wrong (tests/helpers/browser.py has the guard and the steps)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    sync_playwright,
)

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, BrowserGuard
from tests.helpers.services import require


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    require(
        CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK),
        f"{CHROMIUM} is missing: apt-get install -y chromium",
    )
    # Playwright's sync API keeps an asyncio event loop running in this thread from
    # start() until stop(). Django then refuses every ORM call made from the thread
    # (SynchronousOnlyOperation), including the database flush after each live-server
    # test and any test that runs later in the session. Nothing here is really async:
    # the calls are sequential, so the check is switched off while the driver lives,
    # and only when an end-to-end test asked for it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def browser_guard(live_server) -> BrowserGuard:
    return BrowserGuard(origin=live_server.url)


@pytest.fixture
def page(browser_context: BrowserContext, browser_guard: BrowserGuard) -> Iterator[Page]:
    page = browser_context.new_page()
    browser_guard.attach(page)
    yield page
    # A problem on the last page of a test is a failure too, even if the test forgot
    # to look.
    browser_guard.assert_clean()
