from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import (
    HUB_URL,
    OTHER_STRONG_PASSWORD,
    PASSWORD_CHANGE_URL,
    PASSWORD_RESET_DONE_URL,
    PASSWORD_RESET_URL,
    REAUTHENTICATE_URL,
    form_errors,
    is_signed_in,
    link_in,
    login,
    page_without_tokens,
)

pytestmark = pytest.mark.django_db

_RESET_LINK = re.compile(r"^/accounts/password/reset/key/[0-9a-z]+-[^/]+/$")


def _change(client, old, new1, new2=None):
    return client.post(
        PASSWORD_CHANGE_URL,
        {"oldpassword": old, "password1": new1, "password2": new2 if new2 is not None else new1},
    )


# --- Change -------------------------------------------------------------------


def test_password_change_page_asks_for_the_current_and_the_new_password(signed_in_client):
    response = signed_in_client.get(PASSWORD_CHANGE_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="oldpassword"' in content
    assert 'name="password1"' in content
    assert 'name="password2"' in content


def test_password_change_asks_for_the_current_password_not_a_separate_reauthentication(
    signed_in_client,
):
    # allauth guards password change with the current password field; it does not
    # send the user through /accounts/reauthenticate/ even with
    # ACCOUNT_REAUTHENTICATION_REQUIRED on.
    response = signed_in_client.get(PASSWORD_CHANGE_URL)
    assert response.status_code == 200
    assert REAUTHENTICATE_URL not in response.get("Location", "")


def test_password_change_with_the_right_current_password_changes_it_and_keeps_the_session(
    signed_in_client, user, mailoutbox
):
    response = _change(signed_in_client, DEFAULT_PASSWORD, OTHER_STRONG_PASSWORD)

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(OTHER_STRONG_PASSWORD)
    assert not user.check_password(DEFAULT_PASSWORD)
    assert user.password.startswith("argon2")
    assert is_signed_in(signed_in_client)
    assert signed_in_client.get(HUB_URL).status_code == 200
    # The owner is told by mail.
    [message] = mailoutbox
    assert message.to == [user.email]
    assert "password" in message.subject.lower()


def test_password_change_then_only_the_new_password_signs_in(signed_in_client, user):
    _change(signed_in_client, DEFAULT_PASSWORD, OTHER_STRONG_PASSWORD)

    assert login(Client(), user.email, DEFAULT_PASSWORD).status_code == 200
    fresh = Client()
    assert login(fresh, user.email, OTHER_STRONG_PASSWORD).status_code == 302
    assert is_signed_in(fresh)


def test_password_change_with_a_wrong_current_password_is_refused(
    signed_in_client, user, mailoutbox
):
    before = User.objects.get(pk=user.pk).password

    response = _change(signed_in_client, "not-the-password", OTHER_STRONG_PASSWORD)

    assert response.status_code == 200
    assert "Please type your current password." in form_errors(response)
    assert User.objects.get(pk=user.pk).password == before
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("new1", "new2", "expected"),
    [
        ("short", "short", "This password is too short."),
        ("password123", "password123", "This password is too common."),
        (OTHER_STRONG_PASSWORD, OTHER_STRONG_PASSWORD + "x", "same password each time"),
        ("", "", "This field is required."),
    ],
)
def test_password_change_to_a_weak_or_mismatched_password_is_refused(
    signed_in_client, user, new1, new2, expected
):
    before = User.objects.get(pk=user.pk).password

    response = _change(signed_in_client, DEFAULT_PASSWORD, new1, new2)

    assert response.status_code == 200
    assert any(expected in e for e in form_errors(response)), form_errors(response)
    assert User.objects.get(pk=user.pk).password == before


def test_password_change_needs_a_signed_in_user(client):
    response = client.get(PASSWORD_CHANGE_URL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


# --- Reset --------------------------------------------------------------------


def _request_reset(client, email):
    return client.post(PASSWORD_RESET_URL, {"email": email})


def test_password_reset_by_email_link_end_to_end(client, mailoutbox):
    user = UserFactory(email="forgetful@example.com")

    response = _request_reset(client, "Forgetful@Example.com")
    assert response.status_code == 302
    assert response.url == PASSWORD_RESET_DONE_URL

    [message] = mailoutbox
    assert message.to == ["forgetful@example.com"]
    link = link_in(message)
    assert _RESET_LINK.match(link), link

    # The link stashes its key in the session and moves it out of the address bar.
    opened = client.get(link)
    assert opened.status_code == 302
    form_page = client.get(opened.url)
    assert form_page.status_code == 200
    assert 'name="password1"' in form_page.content.decode()

    done = client.post(
        opened.url, {"password1": OTHER_STRONG_PASSWORD, "password2": OTHER_STRONG_PASSWORD}
    )
    assert done.status_code == 302
    assert done.url == "/accounts/password/reset/key/done/"
    assert client.get(done.url).status_code == 200

    user.refresh_from_db()
    assert user.check_password(OTHER_STRONG_PASSWORD)
    assert user.password.startswith("argon2")
    assert login(Client(), user.email, DEFAULT_PASSWORD).status_code == 200
    assert login(Client(), user.email, OTHER_STRONG_PASSWORD).status_code == 302


def test_password_reset_link_works_only_once(client, mailoutbox):
    user = UserFactory()
    _request_reset(client, user.email)
    link = link_in(mailoutbox[0])
    opened = client.get(link)
    client.post(
        opened.url, {"password1": OTHER_STRONG_PASSWORD, "password2": OTHER_STRONG_PASSWORD}
    )

    again = Client()
    reopened = again.get(link)
    page = again.get(reopened.url) if reopened.status_code == 302 else reopened

    assert page.status_code == 200
    assert "The password reset link was invalid" in page.content.decode()
    user.refresh_from_db()
    assert user.check_password(OTHER_STRONG_PASSWORD)


def test_password_reset_for_an_unknown_address_answers_like_for_a_known_one(mailoutbox):
    UserFactory(email="known@example.com")
    known_client, unknown_client = Client(), Client()

    known = _request_reset(known_client, "known@example.com")
    unknown = _request_reset(unknown_client, "unknown@example.com")

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == PASSWORD_RESET_DONE_URL
    known_page = known_client.get(known.url)
    unknown_page = unknown_client.get(unknown.url)
    assert known_page.status_code == unknown_page.status_code == 200
    assert page_without_tokens(known_page) == page_without_tokens(unknown_page)


def test_password_reset_for_an_unknown_address_mails_no_reset_link(mailoutbox):
    _request_reset(Client(), "unknown@example.com")

    # The address gets an "unknown account" note (ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS), with
    # a sign-up link and no reset key; no account is created.
    [message] = mailoutbox
    assert message.to == ["unknown@example.com"]
    assert "No account has confirmed this address" in message.body
    assert "/accounts/password/reset/key/" not in message.body
    assert not User.objects.filter(email="unknown@example.com").exists()


@pytest.mark.parametrize(
    "email", ["", "not-an-email", "a@b", "nul\x00@example.com", "x" * 400 + "@example.com"]
)
def test_password_reset_with_a_malformed_address_is_refused_with_a_form_error(
    client, mailoutbox, email
):
    response = _request_reset(client, email)

    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert mailoutbox == []


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/reset/key/1-forged-key/",
        "/accounts/password/reset/key/zzzzzzzzzzzzz-forged/",
        "/accounts/password/reset/key/zzzzzzzzzzzzzzzzzzzz-forged/",
        "/accounts/password/reset/key/0-set-password/",
    ],
)
def test_forged_password_reset_link_is_refused_without_error(client, path):
    user = UserFactory()
    before = user.password

    response = client.get(path)
    posted = client.post(
        path, {"password1": OTHER_STRONG_PASSWORD, "password2": OTHER_STRONG_PASSWORD}
    )

    for answer in (response, posted):
        assert answer.status_code == 200
        assert "The password reset link was invalid" in answer.content.decode()
    assert User.objects.get(pk=user.pk).password == before


def test_password_reset_lifts_a_failed_login_lockout(client, mailoutbox):
    user = UserFactory()
    for _ in range(6):
        login(client, user.email, "not-the-password")
    assert login(Client(), user.email).status_code == 200  # locked out

    _request_reset(client, user.email)
    opened = client.get(link_in(mailoutbox[0]))
    client.post(
        opened.url, {"password1": OTHER_STRONG_PASSWORD, "password2": OTHER_STRONG_PASSWORD}
    )

    assert login(Client(), user.email, OTHER_STRONG_PASSWORD).status_code == 302
