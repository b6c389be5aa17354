from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from portal.compat import reauthentication_flow as reauthentication
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import (
    EMAIL_URL,
    REAUTHENTICATE_URL,
    form_errors,
    link_in,
    login,
    mails_to,
)

pytestmark = pytest.mark.django_db

REAUTH_FOR_EMAIL = f"{REAUTHENTICATE_URL}?next=%2Faccounts%2Femail%2F"


def _add(client, email):
    return client.post(EMAIL_URL, {"email": email, "action_add": ""})


def _reauthenticate(client, password=DEFAULT_PASSWORD):
    return client.post(REAUTH_FOR_EMAIL, {"password": password})


@pytest.fixture
def reauthenticated_client(signed_in_client):
    response = signed_in_client.post(REAUTHENTICATE_URL, {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return signed_in_client


def test_email_page_lists_the_users_addresses_and_their_state(signed_in_client, user):
    EmailAddress.objects.create(user=user, email="alt@example.com", verified=False)

    response = signed_in_client.get(EMAIL_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert user.email in content
    assert "alt@example.com" in content
    assert "Unverified" in content
    assert "Primary" in content


def test_adding_an_address_first_requires_reauthentication(signed_in_client, user, mailoutbox):
    response = _add(signed_in_client, "second@example.com")

    assert response.status_code == 302
    assert response.url == REAUTH_FOR_EMAIL
    assert not EmailAddress.objects.filter(email="second@example.com").exists()
    assert mailoutbox == []
    page = signed_in_client.get(response.url)
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()


def test_reauthenticating_resumes_the_addition_and_sends_a_verification_mail(
    signed_in_client, user, mailoutbox
):
    _add(signed_in_client, "Second@Example.com")

    response = _reauthenticate(signed_in_client)

    assert response.status_code == 302
    assert response.url == EMAIL_URL
    address = EmailAddress.objects.get(email="second@example.com")
    assert address.user == user
    assert not address.verified
    assert not address.primary
    [message] = mails_to(mailoutbox, "second@example.com")
    link = link_in(message)
    assert link.startswith("/accounts/confirm-email/")

    # The link verifies the new address.
    signed_in_client.post(link)
    assert EmailAddress.objects.get(email="second@example.com").verified


def test_reauthentication_with_a_wrong_password_is_refused_and_adds_nothing(
    signed_in_client, mailoutbox
):
    _add(signed_in_client, "second@example.com")

    response = _reauthenticate(signed_in_client, "not-the-password")

    assert response.status_code == 200
    assert "Incorrect password." in form_errors(response)
    assert not EmailAddress.objects.filter(email="second@example.com").exists()
    assert mailoutbox == []


def test_recent_reauthentication_lets_the_next_addition_through(
    reauthenticated_client, user, mailoutbox
):
    response = _add(reauthenticated_client, "third@example.com")

    assert response.status_code == 302
    assert response.url == EMAIL_URL
    assert EmailAddress.objects.filter(user=user, email="third@example.com").exists()
    assert mails_to(mailoutbox, "third@example.com")


def test_removing_an_address_requires_reauthentication(signed_in_client, user):
    EmailAddress.objects.create(user=user, email="alt@example.com", verified=True)

    response = signed_in_client.post(EMAIL_URL, {"email": "alt@example.com", "action_remove": ""})

    assert response.status_code == 302
    assert response.url.startswith(REAUTHENTICATE_URL)
    assert EmailAddress.objects.filter(email="alt@example.com").exists()


def test_removing_a_secondary_address_after_reauthentication(reauthenticated_client, user):
    EmailAddress.objects.create(user=user, email="alt@example.com", verified=True)

    response = reauthenticated_client.post(
        EMAIL_URL, {"email": "alt@example.com", "action_remove": ""}
    )

    assert response.status_code == 302
    assert not EmailAddress.objects.filter(email="alt@example.com").exists()


def test_the_primary_address_cannot_be_removed(reauthenticated_client, user):
    response = reauthenticated_client.post(
        EMAIL_URL, {"email": user.email, "action_remove": ""}, follow=True
    )

    assert response.status_code == 200
    assert "You cannot remove your primary email address" in response.content.decode()
    assert EmailAddress.objects.filter(user=user, email=user.email, primary=True).exists()


def test_making_a_verified_address_primary_changes_the_sign_in_address(
    reauthenticated_client, user
):
    EmailAddress.objects.create(user=user, email="alt@example.com", verified=True)

    reauthenticated_client.post(EMAIL_URL, {"email": "alt@example.com", "action_primary": ""})

    user.refresh_from_db()
    assert user.email == "alt@example.com"
    assert EmailAddress.objects.get(user=user, primary=True).email == "alt@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "two@@example.com",
        "nul\x00@example.com",
        "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com",
        "x" * 400 + "@example.com",
    ],
)
def test_adding_a_malformed_address_is_refused_with_a_form_error(
    reauthenticated_client, user, mailoutbox, email
):
    response = _add(reauthenticated_client, email)

    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert EmailAddress.objects.filter(user=user).count() == 1
    assert mailoutbox == []


def test_adding_an_address_already_on_the_account_is_refused(
    reauthenticated_client, user, mailoutbox
):
    response = _add(reauthenticated_client, user.email.upper())

    assert response.status_code == 200
    assert "This email address is already associated with this account." in form_errors(response)
    assert EmailAddress.objects.filter(user=user).count() == 1
    assert mailoutbox == []


def test_adding_another_accounts_address_cannot_take_it_over(
    reauthenticated_client, user, mailoutbox
):
    owner = UserFactory(email="owner@example.com")

    # Enumeration prevention: the form answers as for any address...
    response = _add(reauthenticated_client, "owner@example.com")
    assert response.status_code == 302

    # ...but confirming it on the second account is refused: from the owner's mail
    # alone (the link needs the adding account's session)...
    link = link_in(mails_to(mailoutbox, "owner@example.com")[0])
    confirm = Client().get(link)
    assert "Only someone signed in to that account can confirm it" in confirm.content.decode()
    assert Client().post(link).status_code == 403
    # ...and from that session too: the owner confirmed it first.
    confirm = reauthenticated_client.get(link)
    assert "another account has already confirmed it" in confirm.content.decode()
    reauthenticated_client.post(link)

    assert EmailAddress.objects.get(email="owner@example.com", verified=True).user == owner
    assert not EmailAddress.objects.get(user=user, email="owner@example.com").verified
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"


def test_a_user_cannot_remove_or_promote_another_users_address(reauthenticated_client):
    other = UserFactory(email="other@example.com")
    EmailAddress.objects.create(user=other, email="other-alt@example.com", verified=True)

    reauthenticated_client.post(EMAIL_URL, {"email": "other-alt@example.com", "action_remove": ""})
    reauthenticated_client.post(EMAIL_URL, {"email": "other-alt@example.com", "action_primary": ""})
    reauthenticated_client.post(EMAIL_URL, {"email": "other@example.com", "action_send": ""})

    assert EmailAddress.objects.filter(user=other).count() == 2
    assert EmailAddress.objects.get(user=other, primary=True).email == "other@example.com"


def test_email_page_shows_only_the_signed_in_users_addresses(signed_in_client):
    UserFactory(email="stranger@example.com")

    content = signed_in_client.get(EMAIL_URL).content.decode()

    assert "stranger@example.com" not in content


def test_email_page_needs_a_signed_in_user(client):
    response = client.get(EMAIL_URL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_reauthentication_expires_after_the_configured_timeout(reauthenticated_client, monkeypatch):
    # ACCOUNT_REAUTHENTICATION_TIMEOUT is 300 s; move allauth's clock past it.
    real_time = time.time
    monkeypatch.setattr(reauthentication, "time", SimpleNamespace(time=lambda: real_time() + 301))

    response = _add(reauthenticated_client, "late@example.com")

    assert response.status_code == 302
    assert response.url == REAUTH_FOR_EMAIL
    assert not EmailAddress.objects.filter(email="late@example.com").exists()


def test_reauthentication_is_still_valid_just_before_the_timeout(
    reauthenticated_client, monkeypatch
):
    real_time = time.time
    monkeypatch.setattr(reauthentication, "time", SimpleNamespace(time=lambda: real_time() + 290))

    response = _add(reauthenticated_client, "prompt@example.com")

    assert response.status_code == 302
    assert response.url == EMAIL_URL
    assert EmailAddress.objects.filter(email="prompt@example.com").exists()


def test_reauthentication_page_needs_a_signed_in_user(client):
    response = client.get(REAUTHENTICATE_URL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_fresh_sign_in_counts_as_a_session_not_as_a_reauthentication(client, user):
    # Even right after signing in, sensitive email changes ask for the password again.
    login(client, user.email)
    response = _add(client, "second@example.com")
    assert response.url == REAUTH_FOR_EMAIL
