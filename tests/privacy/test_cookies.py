"""Cookies: the policy says the portal uses cookies to store information about the
session. /legal/cookies/ lists each cookie the portal sets, and a notice says so until
it is read; no journey through the site meets a cookie that list does not name."""

from __future__ import annotations

import pytest
from django.test import Client

from privacy.cookies import NOTICE_COOKIE, cookies
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import login, signup
from tests.wallets import NONCE_URL, TestWallet, wallet_login

pytestmark = pytest.mark.django_db

NOTICE_TEXT = "Portal uses cookies only to keep you signed in"
OK_URL = "/legal/cookies/ok/"


def test_the_notice_shows_until_read_then_remembers_it_for_a_year():
    client = Client()
    page = client.get("/models/")
    assert NOTICE_TEXT in page.text and 'href="/legal/cookies/"' in page.text
    response = client.post(OK_URL, {"next": "/models/"})
    assert response.status_code == 302 and response["Location"] == "/models/"
    cookie = response.cookies[NOTICE_COOKIE]
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert NOTICE_TEXT not in client.get("/models/").text
    assert NOTICE_TEXT not in client.get("/").text


def test_the_notice_goes_back_only_to_this_site_and_needs_a_post_with_its_token():
    assert Client().post(OK_URL, {"next": "https://evil.example/"})["Location"] == "/"
    assert Client().post(OK_URL)["Location"] == "/"
    assert Client().get(OK_URL).status_code == 405
    guarded = Client(enforce_csrf_checks=True)
    response = guarded.post(OK_URL, {"next": "/"})
    assert response.status_code == 403 and NOTICE_COOKIE not in response.cookies


def test_the_cookie_page_lists_every_cookie_a_journey_through_the_site_meets(settings):
    listed = {cookie.name for cookie in cookies()}
    page = Client().get("/legal/cookies/")
    assert page.status_code == 200
    for name in listed:
        assert f"<code>{name}</code>" in page.text

    met: set[str] = set()
    visitor = Client()
    for url in ("/", "/models/", "/legal/privacy/", "/accounts/login/", "/accounts/signup/"):
        visitor.get(url)
    visitor.post(OK_URL, {"next": "/"})
    met |= set(visitor.cookies)

    newcomer = Client()
    signup(newcomer, "cookies@example.com")
    met |= set(newcomer.cookies)

    member = Client()
    user = UserFactory()
    login(member, user.email)
    member.post("/account/profile/", {"display_name": "Ada"})  # a one-time message
    member.get("/account/profile/")
    member.post("/accounts/logout/")
    met |= set(member.cookies)

    wallet = Client()
    wallet.get(NONCE_URL)
    wallet_login(wallet, TestWallet.create())
    met |= set(wallet.cookies)

    assert {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, "messages"} <= met
    assert met <= listed, f"not on /legal/cookies/: {met - listed}"


def test_a_lifetime_follows_the_settings(settings):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    session = next(c for c in cookies() if c.name == settings.SESSION_COOKIE_NAME)
    assert session.lifetime.startswith("until you close the browser")
