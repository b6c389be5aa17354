"""Junk sent to any identity endpoint gets an answer, never a server error, and changes
nothing. (The test client re-raises any exception a view lets through.)"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User, Wallet
from privacy.models import PolicyAcknowledgement
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import REAUTHENTICATE_URL

pytestmark = pytest.mark.django_db

ANONYMOUS_ENDPOINTS = [
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/password/reset/",
    "/accounts/confirm-email/not-a-key/",
    "/accounts/password/reset/key/1-not-a-key/",
    "/accounts/wallet/login/",
    "/accounts/wallet/signup/",
    "/legal/cookies/ok/",
]
SIGNED_IN_ENDPOINTS = [
    "/account/profile/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/sessions/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/account/wallets/add/",
    "/account/wallets/1/remove/",
    "/accounts/wallet/reauthenticate/",
    "/legal/privacy/acknowledge/",
]
JUNK = [
    {},
    {"email": ["a@example.com", "not-an-email"], "login": ["a@example.com", "y"]},
    {"email": "x" * 100_000, "login": "x" * 100_000, "password": "x" * 100_000},
    {"email": "\x00", "login": "\x00", "password": "\x00", "display_name": "\x00"},
    {"email": "a@example.com", "action_add": "", "action_remove": "", "action_primary": ""},
    {"next": "//evil.example/", "password": "wrong"},
    {"age_confirmation": ["on", "off"], "password1": "", "password2": "\x00"},
    {"oldpassword": "\x00", "password1": "x", "password2": "y", "display_name": "\x01"},
    {"message": "\x00", "signature": "0x" + "00" * 65, "version": "\x00", "address": "\x00"},
    {"message": ["a", "b"], "signature": "x" * 100_000, "version": ["2024-10-10", "9"]},
    {"message": "x" * 100_000, "signature": "0x" + "ff" * 65, "next": "https://evil.example/"},
]


def _state():
    return (
        sorted(
            User.objects.values_list(
                "email", "password", "display_name", "is_staff", "policy_acknowledged"
            )
        ),
        sorted(EmailAddress.objects.values_list("email", "verified", "primary")),
        sorted(Wallet.objects.values_list("user_id", "address")),
        sorted(PolicyAcknowledgement.objects.values_list("user_id", "version")),
    )


@pytest.mark.parametrize("path", ANONYMOUS_ENDPOINTS)
@pytest.mark.parametrize("data", JUNK)
def test_junk_posted_anonymously_is_answered_without_error_and_changes_nothing(
    client, mailoutbox, path, data
):
    UserFactory(email="owner@example.com")
    before = _state()

    response = client.post(path, data)

    assert response.status_code < 500
    assert not response.get("Location", "").startswith(("//", "http"))
    assert _state() == before
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", SIGNED_IN_ENDPOINTS)
@pytest.mark.parametrize("data", JUNK)
def test_junk_posted_by_a_signed_in_user_is_answered_without_error_and_changes_nothing(path, data):
    user = UserFactory(email="owner@example.com", display_name="Owner")
    client = Client()
    client.force_login(user)
    before = _state()

    response = client.post(path, data)

    assert response.status_code < 500
    assert not response.get("Location", "").startswith(("//", "http"))
    assert _state() == before


def test_junk_posted_after_reauthentication_changes_nothing(client):
    user = UserFactory(email="owner@example.com")
    client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    client.post(REAUTHENTICATE_URL, {"password": DEFAULT_PASSWORD})
    before = _state()

    for data in JUNK[:4]:
        response = client.post("/accounts/email/", {**data, "action_add": ""})
        assert response.status_code < 500

    assert _state() == before


WALLET_PAGES = ["/accounts/wallet/login/", "/accounts/wallet/nonce/", "/account/wallets/"]
JUNK_QUERIES = [
    {"address": "\x00"},
    {"address": "0x" + "z" * 40, "purpose": "\x00"},
    {"address": "x" * 10_000, "next": "//evil.example/"},
    {"purpose": ["login", "link"], "address": ["0x" + "a" * 40, "b"]},
    {"next": "\x00"},
]


@pytest.mark.parametrize("path", WALLET_PAGES)
@pytest.mark.parametrize("query", JUNK_QUERIES)
def test_junk_queries_on_the_wallet_pages_are_answered_without_error(path, query):
    anonymous, member = Client(), Client()
    member.force_login(UserFactory(email="owner@example.com"))
    for client in (anonymous, member):
        response = client.get(path, query)
        assert response.status_code < 500
        assert not response.get("Location", "").startswith(("//", "http"))
