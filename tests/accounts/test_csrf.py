from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.accounts import (
    LOGIN_URL,
    LOGOUT_URL,
    PASSWORD_RESET_URL,
    PROFILE_URL,
    SESSIONS_URL,
    SIGNUP_URL,
    signup_data,
)

pytestmark = pytest.mark.django_db


def _assert_custom_csrf_page(response) -> None:
    assert response.status_code == 403
    content = response.content.decode()
    assert "<h1>This form has expired</h1>" in content
    assert "Nothing was changed." in content
    assert "reload the page and submit it again" in content
    # The site's own layout, not Django's bare debug/default page.
    assert 'class="site-header"' in content
    assert "CSRF verification failed" not in content


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_sign_up_without_csrf_token_is_refused_with_the_custom_page(csrf_client, mailoutbox):
    response = csrf_client.post(SIGNUP_URL, signup_data("new@example.com"))

    _assert_custom_csrf_page(response)
    assert not User.objects.exists()
    assert mailoutbox == []


def test_sign_in_without_csrf_token_is_refused_with_the_custom_page(csrf_client):
    user = UserFactory()

    response = csrf_client.post(LOGIN_URL, {"login": user.email, "password": DEFAULT_PASSWORD})

    _assert_custom_csrf_page(response)
    assert "_auth_user_id" not in csrf_client.session


def test_profile_change_without_csrf_token_is_refused_with_the_custom_page(csrf_client):
    user = UserFactory(display_name="Kept")
    csrf_client.force_login(user)

    response = csrf_client.post(PROFILE_URL, {"display_name": "Forged"})

    _assert_custom_csrf_page(response)
    user.refresh_from_db()
    assert user.display_name == "Kept"


def test_sign_out_without_csrf_token_is_refused(csrf_client):
    user = UserFactory()
    csrf_client.force_login(user)

    response = csrf_client.post(LOGOUT_URL)

    _assert_custom_csrf_page(response)
    assert csrf_client.session.get("_auth_user_id") == str(user.pk)


def test_ending_sessions_without_csrf_token_is_refused(csrf_client):
    user = UserFactory()
    csrf_client.force_login(user)
    other = Client()
    other.force_login(user)

    response = csrf_client.post(SESSIONS_URL)

    _assert_custom_csrf_page(response)
    assert other.get("/account/").status_code == 200


def test_password_reset_without_csrf_token_is_refused(csrf_client, mailoutbox):
    user = UserFactory()

    response = csrf_client.post(PASSWORD_RESET_URL, {"email": user.email})

    _assert_custom_csrf_page(response)
    assert mailoutbox == []


def test_adding_an_email_without_csrf_token_is_refused(csrf_client, mailoutbox):
    user = UserFactory()
    csrf_client.force_login(user)

    response = csrf_client.post("/accounts/email/", {"email": "x@example.com", "action_add": ""})

    _assert_custom_csrf_page(response)
    assert not EmailAddress.objects.filter(email="x@example.com").exists()


def test_forms_submitted_with_their_csrf_token_are_accepted(csrf_client):
    user = UserFactory()
    page = csrf_client.get(LOGIN_URL)
    token = page.context["csrf_token"]

    response = csrf_client.post(
        LOGIN_URL,
        {"login": user.email, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": str(token)},
    )

    assert response.status_code == 302
    assert csrf_client.session.get("_auth_user_id") == str(user.pk)
