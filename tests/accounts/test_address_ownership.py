"""Whoever proves they control an address owns it: the attacks on an address that some
account holds without having verified it (issue 13, item 1), played over HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress, EmailConfirmation
from django.db import connection
from django.db.models import F
from django.test import Client
from django.utils import timezone

from accounts.actions import do_forget_unconfirmed_addresses
from accounts.models import SecurityNotice, User
from privacy.models import DeletionRequest
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import (
    EMAIL_URL,
    PASSWORD_RESET_URL,
    STRONG_PASSWORD,
    VERIFICATION_SENT_URL,
    is_signed_in,
    link_in,
    login,
    mails_to,
    page_without_tokens,
    signed_in_user_id,
    signup,
)
from tests.helpers.services import run_together
from tests.wallets import TestWallet, wallet_login, wallet_reauthenticate, wallet_signup

pytestmark = pytest.mark.django_db

VICTIM = "victim@example.com"
ATTACK_LINKS: dict[str, str] = {}


def _attacker_with_wallet_holding(email: str, mailoutbox) -> tuple[User, Client, TestWallet]:
    """The attack's first half: a wallet-only account that confirmed with its wallet and
    added `email`, which it cannot verify. Returns the account, its session, its wallet;
    the confirmation link mailed to `email` is in ATTACK_LINKS[email]."""
    wallet = TestWallet.create()
    client = Client()
    assert wallet_signup(client, wallet).status_code == 302
    wallet_reauthenticate(client, wallet, EMAIL_URL)
    response = client.post(EMAIL_URL, {"action_add": "", "email": email})
    assert response.status_code == 302, response.content
    attacker = User.objects.get(wallets__address=wallet.address)
    assert EmailAddress.objects.filter(user=attacker, email=email, verified=False).exists()
    ATTACK_LINKS[email] = link_in(mails_to(mailoutbox, email)[0])
    mailoutbox.clear()
    return attacker, client, wallet


def _confirm(link: str, client: Client | None = None):
    return (client or Client()).post(link)


# --- Sign-up ----------------------------------------------------------------------


def test_an_address_added_by_a_wallet_account_does_not_stop_its_owner_signing_up(mailoutbox):
    attacker, _, _ = _attacker_with_wallet_holding(VICTIM, mailoutbox)

    response = signup(Client(), VICTIM)

    assert response.status_code == 302 and response.url == VERIFICATION_SENT_URL
    victim = User.objects.exclude(pk=attacker.pk).get(email=VICTIM)
    assert not victim.wallets.exists()
    [message] = mails_to(mailoutbox, VICTIM)
    assert "Someone signed up for Portal with this address" in message.body


def test_another_accounts_requests_for_links_cannot_keep_the_owners_own_link_away(mailoutbox):
    _, attacker_client, _ = _attacker_with_wallet_holding(VICTIM, mailoutbox)
    attacker_client.post(EMAIL_URL, {"action_send": "", "email": VICTIM})  # just now

    signup(Client(), VICTIM)

    # The owner's sign-up link is sent all the same (allauth counted the address alone).
    assert any("Someone signed up" in m.body for m in mails_to(mailoutbox, VICTIM))
    # Each account still gets at most one link every 3 minutes.
    mailoutbox.clear()
    attacker_client.post(EMAIL_URL, {"action_send": "", "email": VICTIM})
    assert mailoutbox == []


def test_sign_up_answers_alike_for_a_new_a_held_and_an_owned_address(mailoutbox):
    _attacker_with_wallet_holding("held@example.com", mailoutbox)
    UserFactory(email="owned@example.com")

    pages = []
    for email in ("new@example.com", "held@example.com", "owned@example.com"):
        client = Client()
        response = signup(client, email)
        assert response.status_code == 302 and response.url == VERIFICATION_SENT_URL
        page = page_without_tokens(client.get(response.url))
        pages.append(page.replace(email.encode(), b"ADDRESS"))
    assert pages[0] == pages[1] == pages[2]


# --- Password reset ---------------------------------------------------------------


def _request_reset(email: str):
    return Client().post(PASSWORD_RESET_URL, {"email": email})


def test_a_reset_never_goes_to_an_account_that_holds_the_address_unverified(mailoutbox):
    attacker, client, wallet = _attacker_with_wallet_holding(VICTIM, mailoutbox)
    # The attacker even sets a password (confirmed with the wallet).
    wallet_reauthenticate(client, wallet, "/accounts/password/set/")
    client.post(
        "/accounts/password/set/", {"password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD}
    )
    mailoutbox.clear()

    response = _request_reset(VICTIM)

    assert response.status_code == 302
    [message] = mailoutbox
    assert message.to == [VICTIM]
    assert "/accounts/password/reset/key/" not in message.body
    assert "No account has confirmed this address" in message.body


def test_a_reset_answers_alike_for_an_owned_a_held_and_an_unknown_address(mailoutbox):
    _attacker_with_wallet_holding("held@example.com", mailoutbox)
    UserFactory(email="owned@example.com")

    answers = [_request_reset(e) for e in ("owned@example.com", "held@example.com", "no@ex.com")]

    assert {(r.status_code, r.url) for r in answers} == {(302, "/accounts/password/reset/done/")}
    # The owner of a verified address gets a reset link, as before.
    assert "/accounts/password/reset/key/" in mails_to(mailoutbox, "owned@example.com")[0].body


# --- Confirmation -----------------------------------------------------------------


def test_the_owner_cannot_be_made_to_confirm_their_address_onto_the_attackers_account(
    mailoutbox,
):
    _attacker_with_wallet_holding(VICTIM, mailoutbox)
    # The link the victim was mailed when the attacker added the address.
    link = ATTACK_LINKS[VICTIM]

    page = Client().get(link)
    posted = _confirm(link)

    assert "Only someone signed in to that account can confirm it" in page.content.decode()
    card = page.content.decode().split('<div class="card">', 1)[1].split("</main>", 1)[0]
    assert 'method="post"' not in card
    assert posted.status_code == 403
    assert not EmailAddress.objects.filter(email=VICTIM, verified=True).exists()
    # The victim's own signed-in session (another account) cannot confirm it either.
    victim = UserFactory(email="someone@example.com")
    victim_client = Client()
    login(victim_client, victim.email)
    assert _confirm(link, victim_client).status_code == 403
    assert is_signed_in(victim_client)  # and is not signed out by opening the link
    assert not EmailAddress.objects.filter(email=VICTIM, verified=True).exists()


def test_an_address_added_by_its_owner_is_confirmed_from_their_signed_in_session(mailoutbox):
    user = UserFactory()
    client = Client()
    login(client, user.email)
    client.post("/accounts/reauthenticate/?next=/accounts/email/", {"password": DEFAULT_PASSWORD})
    client.post(EMAIL_URL, {"action_add": "", "email": "second@example.com"})
    link = link_in(mails_to(mailoutbox, "second@example.com")[0])

    assert Client().post(link).status_code == 403  # from the mail alone: sign in first
    assert _confirm(link, client).status_code == 302

    assert EmailAddress.objects.get(email="second@example.com").verified


def test_confirming_an_address_takes_it_from_every_account_that_only_held_it(mailoutbox):
    attacker, _, wallet = _attacker_with_wallet_holding(VICTIM, mailoutbox)
    victim_client = Client()
    signup(victim_client, VICTIM)
    victim = User.objects.exclude(pk=attacker.pk).get(email=VICTIM)

    assert _confirm(link_in(mails_to(mailoutbox, VICTIM)[0])).status_code == 302

    assert EmailAddress.objects.get(email=VICTIM).user == victim
    attacker.refresh_from_db()
    assert attacker.email is None
    assert not attacker.emailaddress_set.exists()
    # The attacker is told, in the portal only (its account has no verified address).
    notice = SecurityNotice.objects.get(user=attacker)
    assert (notice.kind, notice.subject) == (SecurityNotice.Kind.ADDRESS_RELEASED, VICTIM)
    # The victim signs in to their own account, which no wallet enters.
    login(victim_client, VICTIM, STRONG_PASSWORD)
    assert signed_in_user_id(victim_client) == str(victim.pk)
    assert signed_in_user_id(_signed_in_with_wallet(wallet)) == str(attacker.pk)


def _signed_in_with_wallet(wallet: TestWallet) -> Client:
    client = Client()
    assert wallet_login(client, wallet).status_code == 302
    return client


def test_an_account_made_with_someone_elses_address_is_erased_when_they_confirm_it(
    mailoutbox,
):
    # The classic pre-hijack: sign up first with the victim's address and a password.
    signup(Client(), VICTIM, password="attackers-own-password-9")
    squatter = User.objects.get(email=VICTIM)
    mailoutbox.clear()
    signup(Client(), VICTIM)

    _confirm(link_in(mails_to(mailoutbox, VICTIM)[0]))

    squatter.refresh_from_db()
    assert not squatter.is_active
    request = DeletionRequest.objects.get(user_id=squatter.pk)
    assert request.origin == DeletionRequest.Origin.UNCONFIRMED
    assert request.notice_email == ""  # nothing is mailed to an address it never proved
    squatter_client = Client()
    login(squatter_client, VICTIM, "attackers-own-password-9")
    assert not is_signed_in(squatter_client)


def test_two_accounts_confirming_one_address_at_once_give_it_to_exactly_one(
    transactional_db, mailoutbox
):
    first, second = UserFactory(email=None), UserFactory(email=None)
    links = []
    for user in (first, second):
        address = EmailAddress.objects.create(user=user, email="race@example.com", primary=True)
        confirmation = EmailConfirmation.create(address)
        EmailConfirmation.objects.filter(pk=confirmation.pk).update(sent=timezone.now())
        links.append(f"/accounts/confirm-email/{confirmation.key}/")
    answers: list[int] = []

    def confirm(link: str) -> None:
        try:
            answers.append(Client().post(link).status_code)
        finally:
            connection.close()

    run_together(
        [threading.Thread(target=confirm, args=(link,)) for link in links],
        timeout=30,
        what="two confirmations of one address",
    )

    assert sorted(answers) == [302, 302]  # neither answers 500
    owners = EmailAddress.objects.filter(email="race@example.com", verified=True)
    assert owners.count() == 1
    assert EmailAddress.objects.filter(email="race@example.com").count() == 1


# --- Expiry -----------------------------------------------------------------------


def _age_confirmations(days: float) -> None:
    age = timedelta(days=days)
    EmailConfirmation.objects.update(created=F("created") - age, sent=F("sent") - age)


def test_an_address_nobody_confirmed_is_forgotten_when_its_link_expires(mailoutbox):
    attacker, _, _ = _attacker_with_wallet_holding(VICTIM, mailoutbox)
    _age_confirmations(3.01)

    assert do_forget_unconfirmed_addresses() == 1

    assert not EmailAddress.objects.filter(email=VICTIM).exists()
    assert attacker.security_notices.get().kind == SecurityNotice.Kind.ADDRESS_RELEASED
    assert attacker.is_active


def test_a_fresh_link_keeps_an_unconfirmed_address(mailoutbox):
    _attacker_with_wallet_holding(VICTIM, mailoutbox)
    _age_confirmations(2.9)

    assert do_forget_unconfirmed_addresses() == 0
    assert EmailAddress.objects.filter(email=VICTIM).exists()


def test_an_account_nobody_ever_confirmed_is_erased_when_its_link_expires(mailoutbox):
    signup(Client(), "never@example.com")
    user = User.objects.get(email="never@example.com")
    _age_confirmations(3.01)

    do_forget_unconfirmed_addresses()

    user.refresh_from_db()
    assert not user.is_active
    assert DeletionRequest.objects.get(user_id=user.pk).origin == "unconfirmed"


def test_a_verified_address_is_never_forgotten():
    user = UserFactory()
    address = EmailAddress.objects.get(user=user)
    EmailConfirmation.create(address)
    _age_confirmations(30)

    assert do_forget_unconfirmed_addresses() == 0
    assert EmailAddress.objects.filter(pk=address.pk, verified=True).exists()


# --- Account mail -----------------------------------------------------------------


def test_account_mail_never_goes_to_an_address_the_account_did_not_confirm(mailoutbox):
    user = UserFactory(email="mine@example.com")
    EmailAddress.objects.create(user=user, email="also-mine@example.com", verified=True)
    # An unverified address made primary (allauth allows it when nothing is verified:
    # here the copy is set by hand) must get nothing.
    EmailAddress.objects.create(user=user, email="not-proved@example.com", verified=False)
    client = Client()
    login(client, user.email)
    client.post(
        "/accounts/reauthenticate/?next=/accounts/password/change/", {"password": DEFAULT_PASSWORD}
    )
    client.post(
        "/accounts/password/change/",
        {
            "oldpassword": DEFAULT_PASSWORD,
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
        },
    )

    recipients = sorted(address for m in mailoutbox for address in m.to)
    assert recipients == ["also-mine@example.com", "mine@example.com"]


def test_signing_in_with_an_unconfirmed_address_is_no_way_in(mailoutbox):
    user = UserFactory(email="known@example.com")
    EmailAddress.objects.create(user=user, email="added@example.com", verified=False)

    client = Client()
    response = login(client, "added@example.com")

    assert response.status_code == 302 and response.url == VERIFICATION_SENT_URL
    assert not is_signed_in(client)


def test_an_unverified_copy_is_not_the_sign_in_name_of_its_account():
    owner = UserFactory(email="shared@example.com")
    squatter = UserFactory(email="other@example.com")
    EmailAddress.objects.create(user=squatter, email="shared@example.com", verified=False)
    User.objects.filter(pk=squatter.pk).update(email="shared@example.com")

    assert User.objects.get_by_natural_key("shared@example.com") == owner
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key("nobody@example.com")


def test_no_admin_page_shows_a_confirmation_key():
    from django.contrib import admin

    from tests.mfa import staff_client

    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert EmailConfirmation not in admin.site._registry
    assert staff_client(superuser).get("/admin/account/emailconfirmation/").status_code == 404
