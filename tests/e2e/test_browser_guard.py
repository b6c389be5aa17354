"""The guard every end-to-end test relies on really sees what it claims to see."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route

pytestmark = pytest.mark.e2e

PROBE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>probe</title>
<style>body { color: red; }</style>
<link rel="stylesheet" href="/static/css/there-is-no-such-file.css">
<script src="/__guard_probe.js"></script>
</head><body><p style="color: red">inline style</p>
<script>document.title = "inline script ran";</script>
</body></html>"""

PROBE_SCRIPT = """
console.error("probe: console error");
setTimeout(() => { throw new Error("probe: uncaught"); }, 0);
"""


def test_the_guard_reports_csp_violations_console_errors_and_bad_responses(
    page: Page, browser_guard, live_server
):
    # The portal's own policy, as the live server sends it.
    response = page.goto("/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    browser_guard.assert_clean()

    # A page on the same origin under that policy, breaking it in every way we look for.
    def probe(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": policy},
            body=PROBE_PAGE,
        )

    page.route(f"{live_server.url}/__guard_probe", probe)
    page.route(
        f"{live_server.url}/__guard_probe.js",
        lambda route: route.fulfill(content_type="text/javascript", body=PROBE_SCRIPT),
    )
    with page.expect_event("pageerror"):  # thrown from a timer, after the load
        page.goto("/__guard_probe")
    assert page.title() == "probe"  # the inline script was blocked

    problems = browser_guard.problems()
    violations = problems.get("CSP violations", [])
    assert any(v.startswith("style-src-elem blocked inline") for v in violations), violations
    assert any(v.startswith("style-src-attr blocked inline") for v in violations), violations
    assert any(v.startswith("script-src-elem blocked inline") for v in violations), violations
    assert any("probe: console error" in e for e in problems.get("console errors", [])), problems
    assert any("probe: uncaught" in e for e in problems.get("uncaught exceptions", [])), problems
    assert any(
        r.startswith("404 GET ") and r.endswith("/static/css/there-is-no-such-file.css")
        for r in problems.get("error responses", [])
    ), problems
    with pytest.raises(AssertionError, match="CSP violations"):
        browser_guard.assert_clean()

    browser_guard.forget()
    page.goto("/")
    browser_guard.assert_clean()
