from __future__ import annotations

import time
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress, EmailConfirmation
from django.db.models import F
from django.test import Client

from accounts.models import User
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import (
    HUB_URL,
    LOGIN_URL,
    VERIFICATION_SENT_URL,
    is_signed_in,
    link_in,
    login,
    signup,
)

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


def _signed_up(client, mailoutbox, email="new@example.com") -> str:
    """Signs up through the form; returns the path of the mailed confirmation link."""
    response = signup(client, email)
    assert response.status_code == 302
    [message] = mailoutbox
    return link_in(message)


def _travel(monkeypatch, seconds: float) -> None:
    """Ages every confirmation key by `seconds` (keys are rows with the time they were
    created and sent; allauth counts their life from those)."""
    age = timedelta(seconds=seconds)
    EmailConfirmation.objects.update(created=F("created") - age, sent=F("sent") - age)


def test_verification_link_get_shows_a_confirm_page_and_changes_nothing(client, mailoutbox):
    link = _signed_up(client, mailoutbox)

    response = Client().get(link)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Confirm email address" in content
    assert "new@example.com" in content
    assert 'method="post"' in content
    assert not EmailAddress.objects.get(email="new@example.com").verified


def test_verification_link_post_verifies_the_address(client, mailoutbox):
    link = _signed_up(client, mailoutbox)

    response = Client().post(link)

    assert response.status_code == 302
    assert response.url == LOGIN_URL
    assert EmailAddress.objects.get(email="new@example.com").verified


def test_verified_user_can_then_sign_in(client, mailoutbox):
    link = _signed_up(client, mailoutbox)
    client.post(link)

    response = login(client, "new@example.com", "violet-otter-quietly-7-lanterns")

    assert response.status_code == 302
    assert response.url == HUB_URL
    assert is_signed_in(client)


def test_unverified_user_cannot_sign_in_and_is_sent_to_the_verification_page(mailoutbox):
    user = UserFactory(verified=False)
    client = Client()

    response = login(client, user.email)

    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT_URL
    assert not is_signed_in(client)
    assert client.get(HUB_URL).status_code == 302
    # A fresh link goes out, for the address of the account.
    [message] = mailoutbox
    assert message.to == [user.email]
    assert link_in(message).startswith("/accounts/confirm-email/")


def test_unverified_user_with_a_wrong_password_gets_the_usual_error(mailoutbox):
    user = UserFactory(verified=False)
    client = Client()

    response = login(client, user.email, "not-the-password")

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert mailoutbox == []


def test_verification_link_still_works_just_before_it_expires(client, mailoutbox, monkeypatch):
    link = _signed_up(client, mailoutbox)
    _travel(monkeypatch, 3 * DAY - 60)

    response = Client().post(link)

    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new@example.com").verified


def test_expired_verification_link_get_says_it_expired_and_verifies_nothing(
    client, mailoutbox, monkeypatch
):
    link = _signed_up(client, mailoutbox)
    _travel(monkeypatch, 3 * DAY + 60)

    response = Client().get(link)

    assert response.status_code == 200
    assert "This confirmation link has expired or is not valid." in response.content.decode()
    assert 'href="/accounts/email/"' in response.content.decode()
    assert not EmailAddress.objects.get(email="new@example.com").verified


def test_expired_verification_link_post_verifies_nothing(client, mailoutbox, monkeypatch):
    link = _signed_up(client, mailoutbox)
    _travel(monkeypatch, 3 * DAY + 60)

    response = Client().post(link)

    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert not EmailAddress.objects.get(email="new@example.com").verified


def test_verification_link_expiry_follows_the_expire_days_setting(client, mailoutbox, settings):
    link = _signed_up(client, mailoutbox)
    # A key made now is older than a zero-day lifetime as soon as a second has passed.
    settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 0
    time.sleep(1.1)

    response = Client().get(link)

    assert "This confirmation link has expired or is not valid." in response.content.decode()
    assert not EmailAddress.objects.get(email="new@example.com").verified


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "MQ:1abcde:forgedsignatureforgedsignatureforgedsig",
        "a" * 500,
    ],
)
def test_forged_verification_link_is_refused_without_error(client, key):
    user = UserFactory(verified=False)

    get = client.get(f"/accounts/confirm-email/{key}/")
    post = client.post(f"/accounts/confirm-email/{key}/")

    assert get.status_code == 200
    assert "This confirmation link has expired or is not valid." in get.content.decode()
    assert post.status_code == 404
    assert not EmailAddress.objects.get(user=user).verified


def test_verification_link_used_twice_is_refused_the_second_time(client, mailoutbox):
    link = _signed_up(client, mailoutbox)
    Client().post(link)

    again = Client().get(link)

    assert "This confirmation link has expired or is not valid." in again.content.decode()
    assert User.objects.count() == 1


def test_repeated_sign_in_attempts_by_an_unverified_user_do_not_flood_their_inbox(mailoutbox):
    # allauth's confirm_email limit: one verification mail per address per 3 minutes;
    # the first link stays valid, so the page answers the same each time.
    user = UserFactory(verified=False)

    responses = [login(Client(), user.email) for _ in range(3)]

    assert [r.url for r in responses] == [VERIFICATION_SENT_URL] * 3
    assert len(mailoutbox) == 1
