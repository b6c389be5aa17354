"""A `next` taken from a request is followed only when it is a path on this site
(portal/redirects.py): every form that goes back somewhere answers a hostile value with
its own fallback, never a 500, never another host, never a URL name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from portal.redirects import is_local_path, safe_next
from privacy import policy
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory, WalletUserFactory
from tests.wallets import WALLET_LOGIN_URL, TestWallet, signed

pytestmark = pytest.mark.django_db

HOSTILE = [
    pytest.param("x", id="a word"),
    pytest.param("account_home", id="a URL name"),
    pytest.param("<b>", id="markup"),
    pytest.param('"><script>alert(1)</script>', id="markup breaking out of an attribute"),
    pytest.param("/account/\nSet-Cookie: sessionid=stolen", id="a newline in a path"),
    pytest.param("\n/account/", id="a leading newline"),
    pytest.param("/account/\r", id="a carriage return"),
    pytest.param(" /account/", id="a leading space"),
    pytest.param("//elsewhere.example/", id="//host"),
    pytest.param("/\\elsewhere.example/", id="/\\host"),
    pytest.param("https://elsewhere.example/", id="https://elsewhere"),
    pytest.param("http://testserver/account/", id="this host, but not a path"),
    pytest.param("javascript:alert(1)", id="javascript:"),
    pytest.param("./account/", id="a relative path"),
]


@pytest.mark.parametrize("value", HOSTILE)
def test_the_helper_returns_the_fallback_url_for_a_hostile_next(value):
    request = RequestFactory().post("/", {"next": value})
    assert not is_local_path(request, value)
    assert safe_next(request, fallback="account_home") == "/account/"
    assert safe_next(request, fallback="/models/") == "/models/"


def test_the_helper_follows_a_path_on_this_site_with_its_query():
    request = RequestFactory().get("/", {"next": "/account/activity/?model=a%2Fb&page=2"})
    assert safe_next(request, fallback="home") == "/account/activity/?model=a%2Fb&page=2"


@pytest.mark.parametrize("value", HOSTILE)
def test_the_cookie_notice_answers_a_hostile_next_with_the_home_page(value):
    response = Client().post("/legal/cookies/ok/", {"next": value})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("value", HOSTILE)
def test_the_policy_notice_answers_a_hostile_next_with_the_policy(value):
    user = UserFactory(policy_acknowledged="")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/legal/privacy/acknowledge/", {"version": policy.CURRENT.version, "next": value}
    )
    assert response.status_code == 302
    assert response["Location"] == "/legal/privacy/"
    user.refresh_from_db()
    assert user.policy_acknowledged == policy.CURRENT.version


@pytest.mark.parametrize("value", HOSTILE)
def test_wallet_sign_in_answers_a_hostile_next_with_the_account_page(value):
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    page = client.get(WALLET_LOGIN_URL, {"next": value})
    assert page.status_code == 200
    assert page.context["next"] == ""
    response = client.post(WALLET_LOGIN_URL, {**signed(client, wallet), "next": value})
    assert response.status_code == 302
    assert response["Location"] == "/account/"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_new_wallet_does_not_carry_a_hostile_next_to_sign_up(value):
    client = Client()
    response = client.post(WALLET_LOGIN_URL, {**signed(client, TestWallet.create()), "next": value})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/wallet/signup/"


@pytest.mark.parametrize("value", HOSTILE)
def test_email_sign_in_answers_a_hostile_next_with_the_account_page(value):
    user = UserFactory()
    response = Client().post(
        "/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD, "next": value}
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_every_form_follows_a_path_on_this_site():
    target = "/account/keys/?a=1&b=2"
    assert Client().post("/legal/cookies/ok/", {"next": target})["Location"] == target
    user = UserFactory()
    response = Client().post(
        "/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD, "next": target}
    )
    assert response["Location"] == target
    wallet = TestWallet.create()
    WalletUserFactory(wallet=wallet)
    client = Client()
    response = client.post(WALLET_LOGIN_URL, {**signed(client, wallet), "next": target})
    assert response["Location"] == target


def test_no_view_reads_a_redirect_target_but_through_the_helper():
    """One door: a view that reads `next` itself, or checks a URL with its own rule,
    would answer some hostile value differently (or with a 500)."""
    root = Path(settings.BASE_DIR)
    own_rule = re.compile(
        r"""request\.(GET|POST)(\.get\(|\[)\s*["']next["']|get_next_redirect_url|"""
        r"url_has_allowed_host_and_scheme"
    )
    offenders = []
    for package in ("accounts", "catalog", "logging_prefs", "portal", "privacy"):
        for source in sorted((root / package).rglob("*.py")):
            if source == root / "portal" / "redirects.py":
                continue
            for number, line in enumerate(source.read_text().splitlines(), start=1):
                if own_rule.search(line):
                    offenders.append(f"{source.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
