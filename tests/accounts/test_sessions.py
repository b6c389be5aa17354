from __future__ import annotations

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client

from tests.factories.accounts import UserFactory
from tests.helpers.accounts import HUB_URL, SESSIONS_URL, is_signed_in, login

pytestmark = pytest.mark.django_db


def _browser(user, agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    assert login(client, user.email).status_code == 302
    return client


def test_sessions_page_lists_every_session_of_the_user(user):
    laptop = _browser(user, "Laptop Browser/1.0")
    _browser(user, "Phone Browser/2.0")

    response = laptop.get(SESSIONS_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Laptop Browser/1.0" in content
    assert "Phone Browser/2.0" in content
    assert "Current" in content
    assert "Sign Out Other Sessions" in content
    assert UserSession.objects.filter(user=user).count() == 2


def test_ending_other_sessions_signs_them_out_and_keeps_this_one(user):
    laptop = _browser(user, "Laptop Browser/1.0")
    phone = _browser(user, "Phone Browser/2.0")
    tablet = _browser(user, "Tablet Browser/3.0")

    response = laptop.post(SESSIONS_URL)

    assert response.status_code == 302
    assert response.url == SESSIONS_URL
    assert laptop.get(HUB_URL).status_code == 200
    for ended in (phone, tablet):
        hub = ended.get(HUB_URL)
        assert hub.status_code == 302
        assert hub.url.startswith("/accounts/login/")
    assert UserSession.objects.filter(user=user).count() == 1
    page = laptop.get(SESSIONS_URL).content.decode()
    assert "Phone Browser/2.0" not in page
    assert "Laptop Browser/1.0" in page


def test_ending_other_sessions_leaves_other_users_signed_in(user):
    laptop = _browser(user, "Laptop Browser/1.0")
    stranger = UserFactory()
    stranger_browser = _browser(stranger, "Stranger Browser/9.9")

    laptop.post(SESSIONS_URL)

    assert stranger_browser.get(HUB_URL).status_code == 200
    assert UserSession.objects.filter(user=stranger).count() == 1


def test_sessions_page_shows_no_other_users_sessions(user):
    stranger = UserFactory()
    _browser(stranger, "Stranger Browser/9.9")
    laptop = _browser(user, "Laptop Browser/1.0")

    content = laptop.get(SESSIONS_URL).content.decode()

    assert "Stranger Browser/9.9" not in content
    assert "Laptop Browser/1.0" in content


def test_with_a_single_session_the_page_offers_sign_out(user):
    laptop = _browser(user, "Laptop Browser/1.0")

    content = laptop.get(SESSIONS_URL).content.decode()

    assert 'action="/accounts/logout/"' in content
    assert "Sign Out Other Sessions" not in content


def test_a_signed_out_session_is_no_longer_listed(user):
    laptop = _browser(user, "Laptop Browser/1.0")
    laptop.post("/accounts/logout/")
    assert not is_signed_in(laptop)

    phone = _browser(user, "Phone Browser/2.0")
    content = phone.get(SESSIONS_URL).content.decode()

    assert "Laptop Browser/1.0" not in content
    assert "Phone Browser/2.0" in content


def test_sessions_page_needs_a_signed_in_user(client):
    for method in (client.get, client.post):
        response = method(SESSIONS_URL)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
