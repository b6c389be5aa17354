"""Sign-In with Ethereum (EIP-4361), end to end in real Chromium: a visitor follows the
wallet link from the sign-in page, signs the portal's message with a browser wallet,
creates an account (13 or older), signs out and back in with the same wallet; and a
person without a browser wallet signs the message by hand, where a signature by another
key is refused.

The browser wallet is a stand-in for an EIP-1193 provider (window.ethereum) injected
before the page's scripts; it signs in Python with eth_account, as a real wallet signs
a `personal_sign` request (EIP-191)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User, Wallet
from tests.factories.accounts import WalletFactory
from tests.helpers.browser import install_browser_wallet, sign_out
from tests.wallets import TestWallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Fixed test keys: nothing of value is, or ever was, held by them.
WALLET = TestWallet.from_key("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OTHER = TestWallet.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
ADDRESS = WALLET.address  # EIP-55 checksummed
AGE_LABEL = "I am 13 or older"
AGE_ERROR = "You must be 13 or older to use Portal (see the privacy policy)."
MISMATCH = "The signature does not match this message and address."
SIGNUP_SCREENSHOT = "/tmp/e2e-wallet-signup.png"
WALLETS_SCREENSHOT = "/tmp/e2e-wallets.png"


def host_of(live_server) -> str:
    return live_server.url.removeprefix("http://")


def assert_message_for(message: str, live_server, statement: str) -> None:
    """The portal's EIP-4361 message for this site and this wallet."""
    host = host_of(live_server)
    assert message.startswith(
        f"{host} wants you to sign in with your Ethereum account:\n{ADDRESS}\n\n{statement}\n"
    ), message
    assert f"\nURI: {live_server.url}\n" in message, message
    assert "\nChain ID: 1\n" in message, message
    assert re.search(r"\nNonce: [0-9a-f]{32}\n", message), message


def install_fake_wallet(page: Page) -> list[str]:
    """A browser wallet holding WALLET's key; the messages it signed, decoded."""
    return install_browser_wallet(page, WALLET)


def test_a_visitor_signs_up_with_a_browser_wallet_and_signs_in_again(
    page: Page, browser_guard, live_server
):
    signed = install_fake_wallet(page)
    main_nav = page.get_by_role("navigation", name="Main")

    # --- From the sign-in page, the wallet link.
    page.goto("/accounts/login/")
    browser_guard.assert_clean()
    page.get_by_role("link", name="sign in with a wallet").click()
    expect(page).to_have_url(re.compile(r"/accounts/wallet/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with an Ethereum wallet")
    browser_guard.assert_clean()

    # --- The browser wallet's part shows (there is a wallet); sign the message with it.
    expect(page.get_by_role("heading", name="With your browser wallet")).to_be_visible()
    page.get_by_role("button", name="Sign in with my wallet").click()

    # --- A new wallet: the account is created first, once 13 or older is confirmed.
    expect(page).to_have_url(re.compile(r"/accounts/wallet/signup/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    expect(page.get_by_role("main")).to_contain_text(f"No account uses the wallet {ADDRESS} yet")
    browser_guard.assert_clean()
    assert len(signed) == 1
    assert_message_for(signed[0], live_server, "Sign in to Portal with this wallet.")
    assert not Wallet.objects.exists()
    assert not User.objects.exists()

    age_box = page.get_by_role("checkbox", name=AGE_LABEL)
    expect(age_box).not_to_be_checked()
    page.get_by_label("Display name (optional)").fill("Vitalik")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/accounts/wallet/signup/")
    ) as refused:
        page.get_by_role("button", name="Create account").click()
    assert refused.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(AGE_ERROR)
    expect(page.get_by_label("Display name (optional)")).to_have_value("Vitalik")
    expect(age_box).to_have_attribute("aria-invalid", "true")
    assert not User.objects.exists()
    # The 400 was the point; nothing else may have gone wrong.
    assert browser_guard.bad_responses == [f"400 POST {live_server.url}/accounts/wallet/signup/"], (
        browser_guard.bad_responses
    )
    browser_guard.forget()
    browser_guard.assert_clean()
    page.screenshot(path=SIGNUP_SCREENSHOT, full_page=True)

    age_box.check()
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("status")).to_contain_text("Your account is ready. Welcome to Portal.")
    expect(page.get_by_role("status")).to_contain_text(f"Successfully signed in as {ADDRESS}.")
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {ADDRESS} (Vitalik).")
    expect(main_nav.get_by_role("button", name="Sign out")).to_be_visible()
    browser_guard.assert_clean()
    user = User.objects.get()
    assert user.email is None
    assert user.display_name == "Vitalik"
    assert user.age_confirmed_at is not None
    assert not user.has_usable_password()
    assert list(user.wallets.values_list("address", flat=True)) == [ADDRESS]

    # --- The wallets page lists it. Linking another asks to confirm it is you first
    # (like any sensitive change, even just after signing in): with the wallet.
    page.goto("/account/wallets/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Wallets")
    rows = page.get_by_role("region", name="Your linked wallets").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ADDRESS)
    expect(rows.first.get_by_role("button", name=f"Remove {ADDRESS}")).to_be_visible()
    expect(page.get_by_text("This wallet is your only way to sign in")).to_be_visible()
    browser_guard.assert_clean()
    page.get_by_role("link", name="Confirm it is you").click()
    expect(page).to_have_url(
        re.compile(r"/accounts/wallet/reauthenticate/\?next=%2Faccount%2Fwallets%2F$")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    browser_guard.assert_clean()
    page.get_by_role("button", name="Confirm with my wallet").click()
    expect(page).to_have_url(re.compile(r"/account/wallets/$"))
    expect(page.get_by_role("button", name="Link with my wallet")).to_be_visible()
    expect(page.get_by_label("Wallet address")).to_be_visible()
    expect(page.get_by_role("link", name="Confirm it is you")).to_have_count(0)
    browser_guard.assert_clean()
    assert len(signed) == 2
    assert_message_for(signed[1], live_server, "Confirm it is me, to change my Portal account.")
    page.screenshot(path=WALLETS_SCREENSHOT, full_page=True)

    # --- Sign out, then sign in again with the same wallet: straight to the account.
    sign_out(page)
    browser_guard.assert_clean()
    page.goto("/accounts/wallet/login/")
    page.get_by_role("button", name="Sign in with my wallet").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {ADDRESS} (Vitalik).")
    expect(main_nav.get_by_role("button", name="Sign out")).to_be_visible()
    browser_guard.assert_clean()
    assert len(signed) == 3
    assert_message_for(signed[2], live_server, "Sign in to Portal with this wallet.")
    assert signed[2] != signed[0]  # a fresh nonce

    owners = User.objects.filter(wallets__address=ADDRESS)
    assert owners.count() == 1
    assert owners.get().pk == user.pk
    assert owners.get().email is None
    assert User.objects.count() == 1
    assert Wallet.objects.get().last_used_at is not None


def test_a_user_without_a_browser_wallet_signs_the_message_by_hand(
    page: Page, browser_guard, live_server
):
    # A wallet-only account, as wallet sign-up makes it: no email, no password.
    user = User(age_confirmed_at=timezone.now())
    user.set_unusable_password()
    user.save()
    WalletFactory(user=user, address=ADDRESS)
    main_nav = page.get_by_role("navigation", name="Main")

    def show_message_to_sign() -> str:
        # Typed in lowercase, as copied from many wallets.
        page.get_by_label("Wallet address").fill(ADDRESS.lower())
        page.get_by_role("button", name="Show the message to sign").click()
        message_box = page.get_by_label("Message to sign, exactly as it is")
        expect(message_box).to_be_visible()
        message = message_box.input_value()
        assert_message_for(message, live_server, "Sign in to Portal with this wallet.")
        return message

    page.goto("/accounts/wallet/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with an Ethereum wallet")
    # No window.ethereum: only the by-hand way shows.
    expect(page.get_by_role("button", name="Sign in with my wallet")).to_be_hidden()
    browser_guard.assert_clean()

    # --- A signature by another key over the right message: refused, not signed in.
    message = show_message_to_sign()
    expect(page).to_have_url(re.compile(r"/accounts/wallet/login/\?address=0x[0-9a-f]{40}$"))
    browser_guard.assert_clean()
    page.get_by_label("Signature").fill(OTHER.sign(message))
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/accounts/wallet/login/")
    ) as refused:
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert refused.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text(MISMATCH)
    expect(main_nav.get_by_role("link", name="Sign in")).to_be_visible()
    expect(main_nav.get_by_role("button", name="Sign out")).to_have_count(0)
    assert browser_guard.bad_responses == [f"400 POST {live_server.url}/accounts/wallet/login/"], (
        browser_guard.bad_responses
    )
    browser_guard.forget()
    browser_guard.assert_clean()
    assert Wallet.objects.get().last_used_at is None

    # --- Start again (the refused message's nonce is spent) and sign with the wallet.
    message = show_message_to_sign()
    page.get_by_label("Signature").fill(WALLET.sign(message))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {ADDRESS}.")
    expect(main_nav.get_by_role("button", name="Sign out")).to_be_visible()
    browser_guard.assert_clean()
    assert Wallet.objects.get().last_used_at is not None
    assert list(User.objects.values_list("pk", "email")) == [(user.pk, None)]
