"""The account pre-hijack, played end to end in real Chromium, and shown to fail (issue
13, item 1).

An attacker signs up with a wallet only, confirms with the wallet and adds the victim's
address, which they cannot verify. The victim, in another browser, signs up with that
address: they get an account of their own (before, none was made, and the mailed
password reset opened the attacker's account). The link the attacker had mailed them
cannot confirm the address onto the attacker's account; their own link confirms it on
theirs, which takes the address from the attacker. The attacker, signing in with the
wallet, is in an account without the victim's address, with a notice saying why, and a
password reset for the address gives them nothing.
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.helpers.browser import BrowserGuard, install_browser_wallet, sign_in, sign_out
from tests.wallets import TestWallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A fixed test key: nothing of value is, or ever was, held by it.
ATTACKER_WALLET = TestWallet.from_key(
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
)
VICTIM = "victim@example.com"
VICTIM_PASSWORD = "tangerine-lighthouse-41-drizzle"
LINK = re.compile(r"https?://\S+/accounts/confirm-email/\S+/")


def _link(message) -> str:
    [link] = LINK.findall(message.body)
    return link


def _new_page(browser, live_server) -> tuple[Page, BrowserGuard]:
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    guard = BrowserGuard(origin=live_server.url)
    guard.attach(page)
    return page, guard


def test_a_wallet_account_cannot_pre_hijack_an_email_address(
    page: Page, browser_guard, browser, live_server, mailoutbox
):
    attacker, attacker_guard = page, browser_guard
    install_browser_wallet(attacker, ATTACKER_WALLET)

    # --- The attacker: a wallet-only account...
    attacker.goto("/accounts/wallet/login/")
    attacker.get_by_role("button", name="Sign in with my wallet").click()
    attacker.get_by_role("checkbox", name="I am 13 or older").check()
    attacker.get_by_role("button", name="Create account").click()
    expect(attacker).to_have_url(re.compile(r"/account/$"))
    attacker_guard.assert_clean()
    # ...confirms with the wallet and adds the victim's address.
    attacker.goto("/accounts/email/")
    attacker.get_by_label("Email").fill(VICTIM)
    attacker.get_by_role("button", name="Add Email").click()
    expect(attacker).to_have_url(re.compile(r"/accounts/wallet/reauthenticate/"))
    attacker.get_by_role("button", name="Confirm with my wallet").click()
    expect(attacker).to_have_url(re.compile(r"/accounts/email/$"))
    expect(attacker.get_by_role("main")).to_contain_text(VICTIM)
    attacker_guard.assert_clean()
    attacker_account = User.objects.get(wallets__address=ATTACKER_WALLET.address)
    [attackers_link_mail] = mailoutbox
    assert attackers_link_mail.to == [VICTIM]
    attackers_link = _link(attackers_link_mail)

    # --- The victim, in another browser, signs up with their address.
    victim, victim_guard = _new_page(browser, live_server)
    victim.goto("/accounts/signup/")
    victim.get_by_label("Email").fill(VICTIM)
    victim.get_by_label(re.compile(r"^Password:?$")).fill(VICTIM_PASSWORD)
    victim.get_by_label("Password (again)").fill(VICTIM_PASSWORD)
    victim.get_by_role("checkbox", name="I am 13 years of age or older").check()
    victim.get_by_role("button", name="Sign Up").click()
    expect(victim).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    victim_guard.assert_clean()
    victims_account = User.objects.exclude(pk=attacker_account.pk).get(email=VICTIM)

    # --- The link the attacker had mailed them confirms nothing from their browser.
    victim.goto(attackers_link)
    main = victim.get_by_role("main")
    expect(main).to_contain_text("Only someone signed in to that account can confirm it.")
    expect(main.get_by_role("button", name="Confirm")).to_have_count(0)
    victim_guard.assert_clean()
    assert not EmailAddress.objects.filter(email=VICTIM, verified=True).exists()

    # --- Their own sign-up link confirms the address on their own account.
    [signup_mail] = [m for m in mailoutbox if "signed up for Portal" in m.body]
    victim.goto(_link(signup_mail))
    victim.get_by_role("button", name="Confirm").click()
    expect(victim.get_by_role("status")).to_contain_text(f"You have confirmed {VICTIM}.")
    victim_guard.assert_clean()
    sign_in(victim, VICTIM, VICTIM_PASSWORD)
    expect(victim).to_have_url(re.compile(r"/account/$"))
    expect(victim.get_by_role("main")).to_contain_text(f"Signed in as {VICTIM}")
    victim_guard.assert_clean()
    victim.goto("/account/wallets/")
    expect(victim.get_by_role("main")).not_to_contain_text(ATTACKER_WALLET.address)
    victim_guard.assert_clean()
    assert EmailAddress.objects.get(email=VICTIM).user_id == victims_account.pk

    # --- The attacker's account lost the address, and is told why.
    attacker.goto("/account/")
    notices = attacker.get_by_role(
        "complementary", name="Changes to how your account can be entered"
    )
    expect(notices).to_contain_text(f"An unverified address was removed: {VICTIM}")
    attacker_guard.assert_clean()
    expect(notices.get_by_role("button", name="Understood")).to_be_visible()
    notices.get_by_role("button", name="Understood").click()
    expect(attacker.get_by_role("main")).not_to_contain_text(VICTIM)
    attacker.goto("/accounts/email/")
    expect(attacker.get_by_role("main")).to_contain_text(
        "You currently do not have any email address set up."
    )
    attacker_guard.assert_clean()

    # --- A password reset for the address reaches only the victim's account.
    sign_out(attacker)
    mailoutbox.clear()
    attacker.goto("/accounts/password/reset/")
    attacker.get_by_label("Email").fill(VICTIM)
    attacker.get_by_role("button", name="Reset My Password").click()
    expect(attacker).to_have_url(re.compile(r"/accounts/password/reset/done/$"))
    attacker_guard.assert_clean()
    [reset_mail] = mailoutbox
    assert reset_mail.to == [VICTIM]  # the owner's inbox, for the owner's account only
    assert f"/key/{user_pk_to_url_str(victims_account)}-" in reset_mail.body
    assert f"/key/{user_pk_to_url_str(attacker_account)}-" not in reset_mail.body
    assert User.objects.get(pk=attacker_account.pk).email is None
    victim_guard.assert_clean()
