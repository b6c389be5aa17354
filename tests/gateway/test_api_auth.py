"""The gateway API's door: the bearer token, CSRF, the schema, JSON errors everywhere."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from logging_prefs.models import Generation
from tests.helpers.gateway import (
    AUTHORIZE_URL,
    DECISIONS_URL,
    GENERATIONS_URL,
    OPENAPI_URL,
    ROUTES_URL,
    GatewayClient,
    record,
)

pytestmark = pytest.mark.django_db

DOCUMENTED_PATHS = {DECISIONS_URL, GENERATIONS_URL, ROUTES_URL, AUTHORIZE_URL}

ENDPOINTS = [DECISIONS_URL, GENERATIONS_URL]


def _assert_refused(response, message_part: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert message_part in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_call_without_a_token_is_refused_with_401(url, key):
    response = GatewayClient(token="").post(url, {"api_key": key.raw})
    _assert_refused(response, "Missing bearer token")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_call_with_a_wrong_token_is_refused_with_401(url, key):
    response = GatewayClient(token="not-the-gateway-token").post(url, {"api_key": key.raw})
    _assert_refused(response, "Invalid gateway token")


@pytest.mark.parametrize(
    "header",
    [
        "Basic dGVzdC1nYXRld2F5LXRva2Vu",  # the right token under another scheme
        "test-gateway-token",
        "Bearer",
        "Bearer test-gateway-token-and-more",
        "Bearer test-gateway-toke",
        "Bearer tëst-gateway-token",  # non-ASCII must not crash the comparison
    ],
)
def test_a_malformed_authorization_header_is_refused_with_401(header, key):
    response = Client().post(
        DECISIONS_URL,
        {"api_key": key.raw},
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    assert response.status_code == 401
    assert response.json()["detail"]


def test_the_token_is_compared_in_constant_time(monkeypatch, gateway, key):
    import hmac

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert gateway.decide(key.raw).status_code == 200
    assert calls == [(b"test-gateway-token", b"test-gateway-token")]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_an_empty_configured_token_refuses_every_call(url, key):
    with override_settings(PORTAL_GATEWAY_TOKEN=""):
        # Not even an empty bearer token, nor the test token, opens the door.
        for token in ("", "test-gateway-token"):
            response = Client().post(
                url,
                {"api_key": key.raw, "generations": []},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
            )
            _assert_refused(response, "PORTAL_GATEWAY_TOKEN is not configured")


def test_a_refused_ingestion_stores_nothing(key):
    response = GatewayClient(token="wrong").ingest([record(key.api_key.pk)])
    assert response.status_code == 401
    assert not Generation.objects.exists()


def test_the_api_needs_no_csrf_token(gateway, key):
    # GatewayClient enforces CSRF checks like a browser: a CSRF-protected view would
    # answer 403 here. The gateway is another service and has no CSRF cookie.
    assert gateway.client.handler.enforce_csrf_checks
    assert gateway.decide(key.raw).status_code == 200
    assert gateway.ingest([record(key.api_key.pk)]).status_code == 200


def test_the_openapi_document_describes_the_endpoints_and_the_record_shape():
    response = Client().get(OPENAPI_URL)
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == DOCUMENTED_PATHS
    assert schema["components"]["securitySchemes"]["GatewayToken"]["scheme"] == "bearer"
    generations = schema["components"]["schemas"]["GenerationsIn"]["properties"]["generations"]
    assert generations["maxItems"] == 1000
    item = generations["items"]
    assert item["title"] == "GenerationRecord"
    assert set(item["required"]) == {
        "id",
        "key_id",
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "created_at",
    }
    assert {"app_url", "app_title", "prompt", "completion"} <= set(item["properties"])
    decision = schema["components"]["schemas"]["DecisionOut"]
    assert set(decision["required"]) == {"key_id", "account", "log_prompts", "provider_policy"}


@override_settings(PORTAL_GATEWAY_SCHEMA_PUBLIC=False)
@pytest.mark.parametrize(
    "headers, refusal",
    [
        ({}, "Missing bearer token"),
        ({"HTTP_AUTHORIZATION": "Bearer wrong"}, "Invalid gateway token"),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, "Missing bearer token"),
    ],
    ids=["no token", "a wrong token", "another scheme"],
)
def test_in_production_the_openapi_document_needs_the_gateway_token(headers, refusal):
    _assert_refused(Client().get(OPENAPI_URL, **headers), refusal)
    allowed = Client().get(OPENAPI_URL, HTTP_AUTHORIZATION="Bearer test-gateway-token")
    assert allowed.status_code == 200
    assert set(allowed.json()["paths"]) == DOCUMENTED_PATHS


@override_settings(PORTAL_GATEWAY_SCHEMA_PUBLIC=False, PORTAL_GATEWAY_TOKEN="")
def test_in_production_without_a_configured_token_the_openapi_document_is_closed():
    _assert_refused(Client().get(OPENAPI_URL, HTTP_AUTHORIZATION="Bearer "), "disabled")


def test_in_development_the_openapi_document_is_open():
    assert Client().get(OPENAPI_URL).status_code == 200


@pytest.mark.parametrize("path", ["docs", "docs/", "redoc"])
def test_the_docs_ui_is_off(path):
    # It would load its scripts from a CDN, which the CSP forbids.
    response = Client().get(f"/internal/v1/{path}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_a_wrong_method_is_a_json_405(gateway):
    response = gateway.client.get(DECISIONS_URL, HTTP_AUTHORIZATION="Bearer test-gateway-token")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "not allowed" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/internal/v1/", "/internal/v1/nothing-here", DECISIONS_URL + "/"]
)
def test_an_unknown_path_is_a_json_404_even_for_a_post(gateway, path):
    response = gateway.post(path, {})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
