"""Real Chromium (Debian's package) driven through Playwright's sync API, as the
end-to-end tests use it (their fixtures are in tests/e2e/conftest.py).

A `BrowserGuard` records what a user would never see but we must: console errors,
uncaught exceptions, Content-Security-Policy violations, failed or error responses,
and requests that leave the live server (the CSP allows no CDN). `sign_in` signs in on
the sign-in page; `gateway_post` calls the gateway API over HTTP, as the gateway does;
`assert_accessible` runs axe-core's WCAG 2.1 A and AA rules on the page;
`add_virtual_authenticator` gives the browser a passkey-capable authenticator;
`install_browser_wallet` a wallet extension.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from playwright.sync_api import (
    ConsoleMessage,
    Page,
    expect,
)
from playwright.sync_api import Error as PlaywrightError

from tests.factories.accounts import DEFAULT_PASSWORD
from tests.wallets import TestWallet

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start; the network is closed here.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


TIMEOUT_MS = 15_000


# Runs in every document before its own scripts (injected through the DevTools
# protocol, so the page's CSP does not apply to it). The page itself has no script.
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const text = `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` (${event.sourceFile || document.location.href}:${event.lineNumber})`;
  window.__cspViolations.push(text);
  window.__portalReportCspViolation(text);
});
"""


@dataclass
class BrowserGuard:
    """What went wrong in the browser, each entry prefixed with the page it happened on."""

    origin: str
    page: Page | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    _snapshots: int = 0

    def attach(self, page: Page) -> None:
        self.page = page
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)
        page.on("request", self._on_request)
        page.expose_function("__portalReportCspViolation", self._on_csp_violation)
        page.add_init_script(_CSP_LISTENER)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.console_errors.append(f"{message.location.get('url', '')}: {message.text}")

    def _on_csp_violation(self, text: str) -> None:
        if text not in self.csp_violations:
            self.csp_violations.append(text)

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.bad_responses.append(f"{response.status} {response.request.method} {response.url}")

    def _on_request_failed(self, request) -> None:
        # ERR_ABORTED is the browser's own cancellation (the page moved on while a script
        # still loaded); a server that fails shows as a status or a connection error.
        if request.failure == "net::ERR_ABORTED":
            return
        self.bad_responses.append(f"failed {request.method} {request.url}: {request.failure}")

    def _on_request(self, request) -> None:
        if not request.url.startswith((self.origin + "/", "data:")):
            self.foreign_requests.append(request.url)

    def problems(self) -> dict[str, list[str]]:
        self._flush()
        found = {
            "console errors": self.console_errors,
            "uncaught exceptions": self.page_errors,
            "CSP violations": self.csp_violations,
            "error responses": self.bad_responses,
            "requests off the live server": self.foreign_requests,
        }
        return {kind: list(entries) for kind, entries in found.items() if entries}

    def assert_clean(self) -> None:
        """Call after every page the test visits: nothing may have gone wrong so far."""
        problems = self.problems()
        assert not problems, (
            f"browser problems at {self.page.url if self.page else '?'}: {problems}"
        )
        self._snapshot()

    def _snapshot(self) -> None:
        """With E2E_SCREENSHOT_DIR set, keep a full-page screenshot of every checked page
        (to look at the layout as a user would)."""
        folder = os.environ.get("E2E_SCREENSHOT_DIR")
        if not folder or self.page is None or self.page.is_closed():
            return
        self._snapshots += 1
        path = self.page.url.removeprefix(self.origin).split("?")[0].strip("/") or "home"
        name = f"{self._snapshots:02d}-{path.replace('/', '-')}.png"
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(Path(folder) / name), full_page=True)

    def forget(self) -> None:
        """Drop what was seen so far (for a test that provoked it on purpose)."""
        for entries in (
            self.console_errors,
            self.page_errors,
            self.csp_violations,
            self.bad_responses,
            self.foreign_requests,
        ):
            entries.clear()
        if self.page is not None and not self.page.is_closed():
            self.page.evaluate("() => { window.__cspViolations = []; }")

    def _flush(self) -> None:
        """Let queued violation events fire, then read the current document's own record."""
        if self.page is None or self.page.is_closed():
            return
        try:
            recorded = self.page.evaluate(
                "() => new Promise((resolve) => setTimeout("
                "() => resolve(window.__cspViolations || []), 50))"
            )
        except PlaywrightError:  # navigating at this very moment: the events were reported
            return
        for text in recorded:
            self._on_csp_violation(text)


# The rules of WCAG 2.0 and 2.1, levels A and AA: what the standard promises, no more
# (axe's "best-practice" rules are advice, not the standard).
WCAG_AA_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


# axe-core as the package bundles it. Axe.run injects it with page.evaluate, through the
# DevTools protocol like _CSP_LISTENER, so `script-src 'self'` neither blocks it nor
# reports it: the BrowserGuard stays clean.
_AXE = Axe()


def axe_violations(page: Page) -> list[dict]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_AA_TAGS)},
        "resultTypes": ["violations"],
    }
    return _AXE.run(page, options=options).response["violations"]


def describe_violations(violations: list[dict]) -> str:
    """One paragraph per broken rule: its id and impact, axe's help, and every failing
    node's selector with what axe found wrong there."""
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            target = " ".join(
                " >> ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {target}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """The page as it is now breaks none of axe-core's WCAG 2.0/2.1 A and AA rules."""
    violations = axe_violations(page)
    assert not violations, (
        f"{len(violations)} accessibility violation(s) at {page.url}:\n"
        + describe_violations(violations)
    )


def gateway_post(live_server, path: str, body: dict) -> tuple[int, dict]:
    """A call to the gateway API over HTTP, as the gateway makes it: the status and the
    JSON answer."""
    # The live server's own http:// address, never a user-supplied scheme.
    request = urllib.request.Request(  # noqa: S310
        f"{live_server.url}/internal/v1/{path}",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {settings.PORTAL_GATEWAY_TOKEN}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def sign_in(page: Page, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Sign in through the sign-in page, as a person types it."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def add_virtual_authenticator(page: Page) -> None:
    """A passkey-capable authenticator in this browser, as DESIGN.md's testing notes
    describe: built in, with resident keys and user verification that always succeeds."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def sign_out(page: Page) -> None:
    """Sign out from the header, as a person clicks it, and see the header say so."""
    main_nav = page.get_by_role("navigation", name="Main")
    main_nav.get_by_role("button", name="Sign out").click()
    expect(main_nav.get_by_role("link", name="Sign in")).to_be_visible()
    expect(main_nav.get_by_role("button", name="Sign out")).to_have_count(0)


# Runs before the page's own scripts: window.ethereum as a wallet extension defines it,
# sharing one account (lowercase, as wallets report it) and signing through Python.
_BROWSER_WALLET = """
window.__walletCalls = [];
window.ethereum = {
  isFakeWallet: true,
  request: async ({ method, params }) => {
    window.__walletCalls.push(method);
    if (method === "eth_requestAccounts" || method === "eth_accounts") {
      return [ADDRESS];
    }
    if (method === "personal_sign") {
      return await window.__fakeWalletSign(params[0], params[1]);
    }
    throw { code: 4200, message: `The fake wallet does not support ${method}.` };
  },
};
"""


def install_browser_wallet(page: Page, wallet: TestWallet) -> list[str]:
    """A stand-in for an EIP-1193 browser wallet (window.ethereum) holding `wallet`'s
    key, injected before the page's scripts; it signs `personal_sign` requests in
    Python (EIP-191). Returns the messages it signed, decoded."""
    signed: list[str] = []

    def personal_sign(hex_message: str, address: str) -> str:
        assert address == wallet.address.lower(), address  # the account the wallet shared
        message = bytes.fromhex(hex_message.removeprefix("0x")).decode()
        signed.append(message)
        return wallet.sign(message)

    page.expose_function("__fakeWalletSign", personal_sign)
    page.add_init_script(_BROWSER_WALLET.replace("ADDRESS", repr(wallet.address.lower())))
    return signed
