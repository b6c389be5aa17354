"""Two-factor sign-in, end to end in real Chromium: a person turns on an authenticator
app on the Security page and then signs in with a code from it; a staff member without
a second factor is sent to set one up before the admin opens; a person, and a wallet
account with no email address, add a passkey and sign in with it alone.

Codes come from the secret the set-up page shows, computed as an authenticator app does
(tests/mfa.py). The passkey lives in Chromium's virtual authenticator (DevTools
protocol, WebAuthn domain): a platform authenticator with user verification, as a
phone or laptop with a fingerprint reader is."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory, WalletUserFactory
from tests.helpers.admin import make_support_member
from tests.helpers.browser import add_virtual_authenticator, assert_accessible, sign_in, sign_out
from tests.mfa import code_for
from tests.wallets import TestWallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_security_page(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Security").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Security")


def confirm_with_password(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Access")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def set_up_authenticator_app(page: Page, browser_guard) -> str:
    """From the Security page: confirm it is you, read the secret beside the QR code,
    type the app's code. The secret."""
    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_with_password(page)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    qr = page.get_by_role("img")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code did not load"
    secret = page.get_by_label("Authenticator secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    browser_guard.assert_clean()
    assert_accessible(page)
    page.get_by_label("Authenticator code").fill(code_for(secret))
    page.get_by_role("button", name="Activate").click()
    # Recovery codes come with the first second factor, shown right away.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    expect(page.locator("main")).to_contain_text("Authenticator app activated.")
    browser_guard.assert_clean()
    assert_accessible(page)
    return secret


def test_a_person_turns_on_an_authenticator_app_and_then_signs_in_with_a_code(
    page: Page, browser_guard
):
    user = UserFactory()
    sign_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/account/$"))
    open_security_page(page)
    expect(page.locator("main")).to_contain_text("Not set up.")
    browser_guard.assert_clean()
    assert_accessible(page)

    secret = set_up_authenticator_app(page, browser_guard)
    open_security_page(page)
    expect(page.locator("main")).to_contain_text("An authenticator app gives your sign-in codes.")
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    sign_out(page)

    # The password alone no longer signs in: the code page asks for the app's code.
    sign_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-Factor Authentication")
    browser_guard.assert_clean()
    assert_accessible(page)
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.locator("main")).to_contain_text("Incorrect code.")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_be_visible()
    browser_guard.assert_clean()
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    browser_guard.assert_clean()


def test_staff_without_a_second_factor_set_one_up_before_the_admin_opens(page: Page, browser_guard):
    staff = make_support_member()
    sign_in(page, staff.email)
    expect(page).to_have_url(re.compile(r"/account/$"))

    # The header's admin link, and any admin address typed in, lead to the Security page.
    page.get_by_role("link", name="Support admin").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Support staff need a second factor before the admin opens"
    )
    browser_guard.assert_clean()
    assert_accessible(page)
    page.goto("/admin/privacy/deletionrequest/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    expect(page.locator("#content")).to_have_count(0)  # no admin page rendered

    secret = set_up_authenticator_app(page, browser_guard)

    # Signed in before the app was set up: the admin asks for one of its codes first.
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/\?next=%2Fadmin%2F$"))
    expect(page.get_by_role("status")).to_contain_text("Confirm with your second factor")
    browser_guard.assert_clean()
    assert_accessible(page)
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("link", name="Deletion requests").first).to_be_visible()
    browser_guard.assert_clean()


def test_a_person_adds_a_passkey_and_signs_in_with_it_alone(page: Page, browser_guard):
    user = UserFactory()
    add_virtual_authenticator(page)
    sign_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/account/$"))
    open_security_page(page)
    page.get_by_role("link", name="Add a passkey").click()
    confirm_with_password(page)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/webauthn/add/$"))
    browser_guard.assert_clean()
    assert_accessible(page)
    page.get_by_label("Name").fill("This laptop")
    page.get_by_label("Passwordless").check()
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    expect(page.locator("main")).to_contain_text("Security key added.")
    browser_guard.assert_clean()
    (passkey,) = Authenticator.objects.filter(user=user, type=Authenticator.Type.WEBAUTHN)
    assert passkey.wrap().name == "This laptop" and passkey.wrap().is_passwordless
    sign_out(page)

    # With the password, the passkey is the second factor.
    sign_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    browser_guard.assert_clean()
    page.get_by_role("button", name="Use a security key").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    browser_guard.assert_clean()
    sign_out(page)

    # Alone: "Sign in with a passkey" on the sign-in page, no password typed.
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    browser_guard.assert_clean()
    assert User.objects.get(pk=user.pk).last_login is not None


def sign_by_hand(page: Page, wallet: TestWallet, submit: str) -> None:
    """Sign the portal's message the by-hand way: the address, then the signature."""
    page.get_by_label("Wallet address").fill(wallet.address)
    page.get_by_role("button", name="Show the message to sign").click()
    message = page.get_by_label("Message to sign, exactly as it is").input_value()
    page.get_by_label("Signature").fill(wallet.sign(message))
    page.get_by_role("button", name=submit, exact=True).click()


def test_a_wallet_account_adds_a_passkey_and_signs_in_with_it(page: Page, browser_guard):
    wallet = TestWallet.create()
    user = WalletUserFactory(wallet=wallet)
    add_virtual_authenticator(page)
    page.goto("/accounts/wallet/login/")
    sign_by_hand(page, wallet, "Sign in")
    expect(page).to_have_url(re.compile(r"/account/$"))
    open_security_page(page)
    page.get_by_role("link", name="Add a passkey").click()
    # A wallet account confirms it is them with a signature.
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    sign_by_hand(page, wallet, "Confirm")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/webauthn/add/$"))
    page.get_by_label("Passwordless").check()
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    browser_guard.assert_clean()
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.WEBAUTHN).exists()
    sign_out(page)

    # The wallet's signature alone no longer signs in: the passkey is asked for.
    page.goto("/accounts/wallet/login/")
    sign_by_hand(page, wallet, "Sign in")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_be_visible()
    browser_guard.assert_clean()
    assert_accessible(page)
    page.get_by_role("button", name="Use a security key").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    browser_guard.assert_clean()
    sign_out(page)

    # The passkey alone signs the account in, though it has no email address to verify.
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Successfully signed in as {wallet.address}."
    )
    browser_guard.assert_clean()
