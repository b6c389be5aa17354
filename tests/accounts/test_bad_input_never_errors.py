"""Junk sent to any identity endpoint gets an answer, never a server error, and changes
nothing. (The test client re-raises any exception a view lets through.)"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User
from tests.accounts.conftest import REAUTHENTICATE_URL
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ANONYMOUS_ENDPOINTS = [
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/password/reset/",
    "/accounts/confirm-email/not-a-key/",
    "/accounts/password/reset/key/1-not-a-key/",
]
SIGNED_IN_ENDPOINTS = [
    "/account/profile/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/sessions/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
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
]


def _state():
    return (
        sorted(User.objects.values_list("email", "password", "display_name", "is_staff")),
        sorted(EmailAddress.objects.values_list("email", "verified", "primary")),
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
