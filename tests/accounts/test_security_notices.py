"""An account that gains a way in (a verified address, a password, a wallet) tells its
owner through every channel it has, and offers to end the other sessions; removing a
wallet or an address ends the sessions it signed in (issue 13, items 1 and 2)."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import SecurityNotice, User
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory, WalletFactory
from tests.helpers.accounts import (
    EMAIL_URL,
    SESSIONS_URL,
    STRONG_PASSWORD,
    is_signed_in,
    link_in,
    login,
    mails_to,
)
from tests.wallets import (
    WALLET_ADD_URL,
    WALLETS_URL,
    TestWallet,
    signed,
    wallet_login,
    wallet_reauthenticate,
    wallet_signup,
)

pytestmark = pytest.mark.django_db

NOTICE_TITLE = "Changes to how your account can be entered"


def _password_client(user: User, next_url: str = "/account/") -> Client:
    client = Client()
    login(client, user.email)
    client.post(f"/accounts/reauthenticate/?next={next_url}", {"password": DEFAULT_PASSWORD})
    return client


def _wallet_client(wallet: TestWallet) -> Client:
    client = Client()
    assert wallet_login(client, wallet).status_code == 302
    return client


# --- Gaining a way in -------------------------------------------------------------


def test_linking_a_wallet_is_told_at_every_verified_address_and_on_every_page(
    mailoutbox, django_capture_on_commit_callbacks
):
    user = UserFactory(email="ada@example.com")
    EmailAddress.objects.create(user=user, email="ada-work@example.com", verified=True)
    EmailAddress.objects.create(user=user, email="unproved@example.com", verified=False)
    other_session = Client()
    login(other_session, user.email)
    client = _password_client(user, WALLETS_URL)
    wallet = TestWallet.create()
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(WALLET_ADD_URL, signed(client, wallet, "link"))

    assert sorted(m.to[0] for m in mailoutbox) == ["ada-work@example.com", "ada@example.com"]
    assert wallet.address in mailoutbox[0].body
    assert "/accounts/sessions/" in link_in(mailoutbox[0])
    page = other_session.get("/account/").content.decode()
    assert NOTICE_TITLE in page and wallet.address in page
    assert "It was not me: sign out my other sessions" in page


def test_verifying_an_address_tells_the_owner(mailoutbox, django_capture_on_commit_callbacks):
    wallet = TestWallet.create()
    client = Client()
    wallet_signup(client, wallet)
    wallet_reauthenticate(client, wallet, EMAIL_URL)
    client.post(EMAIL_URL, {"action_add": "", "email": "new@example.com"})
    link = link_in(mails_to(mailoutbox, "new@example.com")[0])
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(link)

    notice = SecurityNotice.objects.get()
    assert (notice.kind, notice.subject) == (
        SecurityNotice.Kind.ADDRESS_VERIFIED,
        "new@example.com",
    )
    # The new address is now the one verified address: it gets the mail.
    [message] = mailoutbox
    assert message.to == ["new@example.com"]
    assert NOTICE_TITLE in client.get("/account/").content.decode()


@pytest.mark.parametrize("how", ["set", "change"])
def test_a_password_set_or_changed_puts_a_notice_on_the_accounts_pages(how, mailoutbox):
    if how == "set":
        wallet = TestWallet.create()
        client = Client()
        wallet_signup(client, wallet)
        wallet_reauthenticate(client, wallet, "/accounts/password/set/")
        client.post(
            "/accounts/password/set/", {"password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD}
        )
        kind = SecurityNotice.Kind.PASSWORD_SET
    else:
        user = UserFactory()
        client = _password_client(user, "/accounts/password/change/")
        client.post(
            "/accounts/password/change/",
            {
                "oldpassword": DEFAULT_PASSWORD,
                "password1": STRONG_PASSWORD,
                "password2": STRONG_PASSWORD,
            },
        )
        kind = SecurityNotice.Kind.PASSWORD_CHANGED

    assert SecurityNotice.objects.get().kind == kind
    assert NOTICE_TITLE in client.get("/account/").content.decode()


def test_a_password_reset_puts_a_notice_on_the_accounts_pages(mailoutbox):
    user = UserFactory()
    Client().post("/accounts/password/reset/", {"email": user.email})
    link = link_in(mailoutbox[0])
    client = Client()
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD},
    )

    assert SecurityNotice.objects.get(user=user).kind == SecurityNotice.Kind.PASSWORD_RESET


def test_it_was_not_me_signs_out_every_other_session():
    wallet = TestWallet.create()
    intruder = Client()
    wallet_signup(intruder, wallet)
    user = User.objects.get()
    owner = _wallet_client(wallet)
    second = TestWallet.create()
    wallet_reauthenticate(owner, wallet, WALLETS_URL)
    owner.post(WALLET_ADD_URL, signed(owner, second, "link"))

    response = owner.post(SESSIONS_URL)

    assert response.status_code == 302
    assert intruder.get("/account/").status_code == 302  # sent to sign in
    assert owner.get("/account/").status_code == 200
    assert UserSession.objects.filter(user=user).count() == 1


def test_it_was_me_dismisses_the_notices_and_goes_back():
    user = UserFactory()
    client = _password_client(user, WALLETS_URL)
    client.post(WALLET_ADD_URL, signed(client, TestWallet.create(), "link"))
    assert NOTICE_TITLE in client.get("/account/keys/").content.decode()

    response = client.post("/account/security-notices/dismiss/", {"next": "/account/keys/"})

    assert response.status_code == 302 and response["Location"] == "/account/keys/"
    assert NOTICE_TITLE not in client.get("/account/keys/").content.decode()
    assert SecurityNotice.objects.get().dismissed_at is not None
    user.refresh_from_db()
    assert user.security_notice_at is None


@pytest.mark.parametrize("next_url", ["x", "<b>", "//evil.example", "https://evil.example/"])
def test_dismissing_never_leaves_the_site(next_url):
    client = Client()
    client.force_login(UserFactory())
    response = client.post("/account/security-notices/dismiss/", {"next": next_url})
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_pages_without_a_notice_cost_no_extra_query():
    user = UserFactory()
    client = Client()
    client.force_login(user)
    client.get("/account/")
    with CaptureQueriesContext(connection) as quiet:
        client.get("/account/")
    User.objects.filter(pk=user.pk).update(security_notice_at=None)
    SecurityNotice.objects.create(user=user, kind=SecurityNotice.Kind.PASSWORD_SET)
    User.objects.filter(pk=user.pk).update(
        security_notice_at=SecurityNotice.objects.get().created_at
    )
    with CaptureQueriesContext(connection) as noticed:
        client.get("/account/")
    assert len(noticed) == len(quiet) + 1


# --- Removing a way in ends the sessions it signed in ------------------------------


def _wallet_account_with_two_wallets() -> tuple[User, TestWallet, TestWallet]:
    first, second = TestWallet.create(), TestWallet.create()
    client = Client()
    wallet_signup(client, first)
    client.post("/accounts/logout/")
    user = User.objects.get()
    WalletFactory(user=user, address=second.address)
    return user, first, second


def test_removing_a_wallet_signs_out_the_sessions_it_signed_in():
    user, stolen, kept = _wallet_account_with_two_wallets()
    thief = _wallet_client(stolen)
    owner = _wallet_client(kept)
    wallet_reauthenticate(owner, kept, WALLETS_URL)

    response = owner.post(f"/account/wallets/{user.wallets.get(address=stolen.address).pk}/remove/")

    assert response.status_code == 302
    assert thief.get("/account/").status_code == 302  # signed out
    page = owner.get(WALLETS_URL).content.decode()
    assert "The other session it signed in has been signed out." in page
    assert "This session, which you signed in with it" not in page


def test_removing_the_wallet_this_session_signed_in_with_says_this_session_stays():
    user, first, second = _wallet_account_with_two_wallets()
    owner = _wallet_client(first)
    wallet_reauthenticate(owner, first, WALLETS_URL)

    owner.post(f"/account/wallets/{user.wallets.get(address=first.address).pk}/remove/")

    page = owner.get(WALLETS_URL).content.decode()
    assert "No other session was signed in with it." in page
    assert "This session, which you signed in with it, stays open until you sign out." in page


def test_removing_a_wallet_leaves_sessions_signed_in_another_way():
    user, first, second = _wallet_account_with_two_wallets()
    other = _wallet_client(second)
    owner = _wallet_client(first)
    wallet_reauthenticate(owner, first, WALLETS_URL)

    owner.post(f"/account/wallets/{user.wallets.get(address=first.address).pk}/remove/")

    assert other.get("/account/").status_code == 200


def test_removing_an_email_address_signs_out_the_sessions_it_signed_in(mailoutbox):
    user = UserFactory(email="main@example.com")
    EmailAddress.objects.create(user=user, email="old@example.com", verified=True)
    thief = Client()
    login(thief, "old@example.com")
    assert is_signed_in(thief)
    owner = _password_client(user, EMAIL_URL)

    response = owner.post(EMAIL_URL, {"action_remove": "", "email": "old@example.com"}, follow=True)

    assert "1 other session signed in with old@example.com was ended." in response.content.decode()
    assert thief.get("/account/").status_code == 302
    assert owner.get("/account/").status_code == 200
