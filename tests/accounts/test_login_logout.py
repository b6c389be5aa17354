from __future__ import annotations

import pytest
from django.test import Client

from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import (
    HUB_URL,
    LOGIN_URL,
    LOGOUT_URL,
    form_errors,
    is_signed_in,
    login,
    signed_in_user_id,
)

pytestmark = pytest.mark.django_db

MISMATCH = "The email address and/or password you specified are not correct."
TOO_MANY = "Too many failed login attempts. Try again later."


def test_login_page_asks_for_email_and_password(client):
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    assert 'name="login"' in response.content.decode()
    assert 'name="password"' in response.content.decode()


def test_verified_user_signs_in_with_email_and_password_and_lands_on_the_hub(client, user):
    response = login(client, user.email)

    assert response.status_code == 302
    assert response.url == HUB_URL
    assert signed_in_user_id(client) == str(user.pk)
    assert client.get(HUB_URL).status_code == 200


def test_sign_in_ignores_the_case_and_surrounding_spaces_of_the_address(client):
    user = UserFactory(email="mixed@example.com")

    response = login(client, "  MiXeD@Example.COM ")

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(user.pk)


def test_sign_in_follows_a_safe_next_url(client, user):
    response = client.post(
        LOGIN_URL, {"login": user.email, "password": DEFAULT_PASSWORD, "next": "/account/profile/"}
    )
    assert response.status_code == 302
    assert response.url == "/account/profile/"


def test_sign_in_ignores_an_offsite_next_url(client, user):
    response = client.post(
        LOGIN_URL,
        {"login": user.email, "password": DEFAULT_PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response.url == HUB_URL


def test_wrong_password_is_refused_with_a_clear_error(client, user):
    response = login(client, user.email, "not-the-password")

    assert response.status_code == 200
    assert MISMATCH in form_errors(response)
    assert not is_signed_in(client)


def test_unknown_address_is_refused_with_the_same_error_as_a_wrong_password(client, user):
    unknown = login(client, "nobody@example.com", "not-the-password")
    wrong = login(Client(), user.email, "not-the-password")

    assert unknown.status_code == wrong.status_code == 200
    assert form_errors(unknown) == form_errors(wrong) == [MISMATCH]


def test_inactive_user_cannot_sign_in(client):
    user = UserFactory(is_active=False)

    response = login(client, user.email)

    assert response.status_code == 302
    assert response.url == "/accounts/inactive/"
    assert not is_signed_in(client)
    page = client.get(response.url)
    assert page.status_code == 200
    assert "This account is inactive." in page.content.decode()


@pytest.mark.parametrize(
    ("login_value", "password"),
    [
        ("", DEFAULT_PASSWORD),
        ("not-an-email", DEFAULT_PASSWORD),
        ("a@b", DEFAULT_PASSWORD),
        ("nul\x00@example.com", DEFAULT_PASSWORD),
        ("x" * 400 + "@example.com", DEFAULT_PASSWORD),
        ("user@example.com", ""),
        ("user@example.com", "nul\x00byte"),
        ("user@example.com", "p" * 10_000),
    ],
)
def test_malformed_sign_in_input_is_refused_with_a_form_error(client, user, login_value, password):
    response = client.post(LOGIN_URL, {"login": login_value, "password": password})

    assert response.status_code == 200
    assert form_errors(response)
    assert not is_signed_in(client)


def test_repeated_wrong_passwords_are_rate_limited_and_then_even_the_right_one_is_refused(
    client, user
):
    # allauth's login_failed limit: 5 failures per 5 minutes for one address.
    for _ in range(5):
        response = login(client, user.email, "not-the-password")
        assert form_errors(response) == [MISMATCH]

    limited = login(client, user.email, "not-the-password")
    assert limited.status_code == 200
    assert form_errors(limited) == [TOO_MANY]
    assert TOO_MANY in limited.content.decode()

    right = login(client, user.email, DEFAULT_PASSWORD)
    assert right.status_code == 200
    assert form_errors(right) == [TOO_MANY]
    assert not is_signed_in(client)

    # The limit holds for that address from any browser.
    elsewhere = Client()
    assert form_errors(login(elsewhere, user.email, DEFAULT_PASSWORD)) == [TOO_MANY]
    assert not is_signed_in(elsewhere)


def test_rate_limit_on_one_address_does_not_lock_out_another(client, user):
    other = UserFactory()
    for _ in range(6):
        login(client, user.email, "not-the-password")

    response = login(Client(), other.email)

    assert response.status_code == 302
    assert response.url == HUB_URL


def test_successful_sign_ins_do_not_count_towards_the_failure_limit(user):
    for _ in range(8):
        client = Client()
        assert login(client, user.email).status_code == 302
        assert is_signed_in(client)


def test_sign_out_by_post_ends_the_session(signed_in_client):
    response = signed_in_client.post(LOGOUT_URL)

    assert response.status_code == 302
    assert response.url == "/"
    assert not is_signed_in(signed_in_client)
    hub = signed_in_client.get(HUB_URL)
    assert hub.status_code == 302
    assert hub.url.startswith(LOGIN_URL)


def test_sign_out_by_get_only_asks_for_confirmation(signed_in_client):
    response = signed_in_client.get(LOGOUT_URL)

    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()
    assert is_signed_in(signed_in_client)


def test_every_page_for_a_signed_in_user_offers_sign_out_as_a_post_form(signed_in_client):
    content = signed_in_client.get(HUB_URL).content.decode()
    assert f'<form method="post" action="{LOGOUT_URL}"' in content
