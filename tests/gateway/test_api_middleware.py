"""The gateway API runs without the browser's middleware (portal/middleware.py): no
session, no user, no messages, no session tracking; every other page keeps them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from portal.middleware import GATEWAY_API_PATH
from tests.factories.accounts import UserFactory
from tests.helpers.gateway import DECISIONS_URL, GatewayClient, create_key

pytestmark = pytest.mark.django_db

BROWSER_ATTRIBUTES = ("session", "user", "_messages")


def test_a_gateway_call_loads_no_session_user_or_messages(gateway, key):
    response = gateway.decide(key.raw)
    assert response.status_code == 200
    request = response.wsgi_request
    assert [name for name in BROWSER_ATTRIBUTES if hasattr(request, name)] == []


def test_a_session_cookie_sent_to_the_gateway_api_is_neither_read_nor_renewed(
    django_assert_num_queries,
):
    # A browser's signed-in cookie sent along (a misconfigured gateway, a curious user):
    # the API does not sign anyone in with it, does not track the session, and sets no
    # cookie. The decision's own query is the only one.
    user = UserFactory()
    key = create_key(user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    with django_assert_num_queries(1):
        response = browser.post(
            DECISIONS_URL,
            {"api_key": key.raw},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {settings.PORTAL_GATEWAY_TOKEN}",
        )
    assert response.status_code == 200
    assert not hasattr(response.wsgi_request, "user")
    assert response.cookies == {}
    assert "Cookie" not in response.get("Vary", "")


def test_browser_pages_keep_their_session_user_and_messages(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get("/account/privacy/")
    assert response.status_code == 200
    request = response.wsgi_request
    assert [name for name in BROWSER_ATTRIBUTES if not hasattr(request, name)] == []
    assert request.user == user


def test_a_path_that_only_looks_like_the_api_is_a_browser_path(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get(GATEWAY_API_PATH.rstrip("/"))
    assert hasattr(response.wsgi_request, "user")


def test_every_gateway_operation_is_under_the_path_the_middleware_skips():
    for name in ("gateway:decide", "gateway:ingest", "gateway:openapi-json"):
        assert reverse(name).startswith(GATEWAY_API_PATH), name


def test_the_api_still_refuses_a_missing_token_and_answers_json_404s(gateway, key):
    response = GatewayClient(token="").decide(key.raw)
    assert response.status_code == 401
    assert "detail" in response.json()
    response = gateway.post(GATEWAY_API_PATH + "no-such-endpoint", {})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("No gateway API endpoint")


def test_a_host_outside_allowed_hosts_is_refused_on_the_gateway_api_too(gateway, key):
    response = gateway.post(DECISIONS_URL, {"api_key": key.raw}, HTTP_HOST="evil.example")
    assert response.status_code == 400
