"""The gateway's fast path (gateway.fast_path.GatewayFastPathMiddleware) answers a
well-formed, authorised decisions or routes request itself, and hands every other
request to the ninja endpoints. Whichever way a request goes, its answer is the same
byte for byte: each request below is sent once through the portal's middleware and once
with the fast path removed, and the two answers are compared."""

from __future__ import annotations

import json
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import Client, override_settings
from ninja.operation import Operation

from accounts.actions import do_revoke_api_key
from gateway import api as gateway_api
from logging_prefs.actions import (
    do_set_api_key_in_region,
    do_set_api_key_provider_rules,
    do_set_logging_preferences,
)
from tests.factories.accounts import UserFactory
from tests.factories.catalog import EndpointFactory, LanguageModelFactory
from tests.helpers.gateway import AUTHORIZE_URL, DECISIONS_URL, GENERATIONS_URL, create_key
from tests.helpers.regions import abroad, home

pytestmark = pytest.mark.django_db

FAST_PATH = "gateway.fast_path.GatewayFastPathMiddleware"
ROUTES_URL = "/internal/v1/routes"


def _send(client: Client, request: dict):
    request = dict(request)
    method = request.pop("method", "post")
    path = request.pop("path", DECISIONS_URL)
    body = request.pop("body", b"")
    headers = request.pop("headers", {})
    token = request.pop("token", settings.PORTAL_GATEWAY_TOKEN)
    if token is not None:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", **headers}
    content_type = request.pop("content_type", "application/json")
    assert not request, request
    if isinstance(body, dict | list):
        body = json.dumps(body)
    return getattr(client, method)(path, body, content_type=content_type, **headers)


def _answer(response) -> tuple:
    return (
        response.status_code,
        response.content,
        sorted(response.headers.items()),
        sorted((name, morsel.OutputString()) for name, morsel in response.cookies.items()),
    )


def _both_ways(request: dict):
    """(answer with the fast path, answer without it, whether ninja ran with it)."""
    with mock.patch.object(Operation, "run", autospec=True, side_effect=Operation.run) as run:
        fast = _answer(_send(Client(enforce_csrf_checks=True), request))
    ninja_ran = run.called
    without = [name for name in settings.MIDDLEWARE if name != FAST_PATH]
    assert len(without) == len(settings.MIDDLEWARE) - 1
    with override_settings(MIDDLEWARE=without):
        slow = _answer(_send(Client(enforce_csrf_checks=True), request))
    return fast, slow, ninja_ran


@pytest.fixture
def keys(catalog):
    active = create_key(UserFactory())
    revoked = create_key(UserFactory())
    do_revoke_api_key(api_key=revoked.api_key, acting_user=revoked.user)
    closed = create_key(UserFactory())
    closed.user.is_active = False
    closed.user.save(update_fields=["is_active"])
    roaming = create_key(UserFactory())
    do_set_logging_preferences(
        user=roaming.user, acting_user=roaming.user, changes={"in_region_only": False}
    )
    # Its account allows other regions; the key itself keeps to the portal's.
    strict = create_key(roaming.user, name="Strict app")
    do_set_api_key_in_region(api_key=strict.api_key, acting_user=strict.user, in_region_only=True)
    # Its account allows paid endpoints that train and endpoints that retain; its keys
    # narrow that: one allows no training, one zero-data-retention endpoints only.
    trusting = create_key(UserFactory())
    do_set_logging_preferences(
        user=trusting.user, acting_user=trusting.user, changes={"allow_training_paid": True}
    )
    no_training = create_key(trusting.user, name="No training app")
    zdr = create_key(trusting.user, name="ZDR app")
    do_set_api_key_provider_rules(
        api_key=no_training.api_key, acting_user=trusting.user, changes={"no_training": True}
    )
    do_set_api_key_provider_rules(
        api_key=zdr.api_key, acting_user=trusting.user, changes={"zdr_only": True}
    )
    return {
        "active": active.raw,
        "revoked": revoked.raw,
        "closed": closed.raw,
        "roaming": roaming.raw,
        "strict": strict.raw,
        "trusting": trusting.raw,
        "no_training": no_training.raw,
        "zdr": zdr.raw,
    }


@pytest.fixture
def catalog():
    """acme/open: an endpoint a new account allows; acme/trainer: none it allows;
    acme/abroad: one only outside the portal's region; acme/mixed: one in, one out;
    acme/keeper: one that retains prompts."""
    EndpointFactory(model=LanguageModelFactory(slug="open"))
    EndpointFactory(model=LanguageModelFactory(slug="trainer"), trains_on_prompts=True)
    EndpointFactory(model=LanguageModelFactory(slug="keeper"), retains_prompts=True)
    EndpointFactory(model=LanguageModelFactory(slug="abroad"), region=abroad())
    mixed = LanguageModelFactory(slug="mixed")
    EndpointFactory(model=mixed, region=abroad())
    EndpointFactory(model=mixed, region=home(), input_price=Decimal("5"))


def _routes(body, **request) -> dict:
    return {"path": ROUTES_URL, "body": body, **request}


def _authorize(body, **request) -> dict:
    return {"path": AUTHORIZE_URL, "body": body, **request}


# Requests the fast path answers: well-formed and authorised, whatever the key.
FAST = {
    "a decision": ({"body": {"api_key": "{active}"}}, 200),
    "an unknown key": ({"body": {"api_key": "sk-pt-nobody"}}, 401),
    "a revoked key": ({"body": {"api_key": "{revoked}"}}, 401),
    "a closed account's key": ({"body": {"api_key": "{closed}"}}, 403),
    "a +json content type": (
        {"body": {"api_key": "{active}"}, "content_type": "application/vnd.portal+json"},
        200,
    ),
    "a charset parameter": (
        {"body": {"api_key": "{active}"}, "content_type": "application/json; charset=utf-8"},
        200,
    ),
    "unknown fields besides the key": ({"body": {"api_key": "{active}", "model": "x"}}, 200),
    "routes": (_routes({"api_key": "{active}", "model": "acme/open"}), 200),
    "routes, no endpoint allowed": (_routes({"api_key": "{active}", "model": "acme/trainer"}), 409),
    "routes, only abroad": (_routes({"api_key": "{active}", "model": "acme/abroad"}), 409),
    "routes, abroad with the region choice off": (
        _routes({"api_key": "{roaming}", "model": "acme/abroad"}),
        200,
    ),
    "routes, in and out of the region": (
        _routes({"api_key": "{active}", "model": "acme/mixed"}),
        200,
    ),
    "routes, in and out of the region, choice off": (
        _routes({"api_key": "{roaming}", "model": "acme/mixed"}),
        200,
    ),
    "a decision with the region choice off": ({"body": {"api_key": "{roaming}"}}, 200),
    "a decision with the key stricter than its account": ({"body": {"api_key": "{strict}"}}, 200),
    "routes, only abroad, the key stricter than its account": (
        _routes({"api_key": "{strict}", "model": "acme/abroad"}),
        409,
    ),
    "routes, in and out of the region, the key stricter than its account": (
        _routes({"api_key": "{strict}", "model": "acme/mixed"}),
        200,
    ),
    "routes, a paid trainer the account allows": (
        _routes({"api_key": "{trusting}", "model": "acme/trainer"}),
        200,
    ),
    "routes, a paid trainer the key's no-training rule refuses": (
        _routes({"api_key": "{no_training}", "model": "acme/trainer"}),
        409,
    ),
    "a decision with the key's no-training rule": ({"body": {"api_key": "{no_training}"}}, 200),
    "a decision with the key's zero-data-retention rule": ({"body": {"api_key": "{zdr}"}}, 200),
    "routes, a retaining endpoint the key's zero-data-retention rule refuses": (
        _routes({"api_key": "{zdr}", "model": "acme/keeper"}),
        409,
    ),
    "routes, a zero-data-retention endpoint under the key's rule": (
        _routes({"api_key": "{zdr}", "model": "acme/open"}),
        200,
    ),
    "routes, an unlisted model": (_routes({"api_key": "{active}", "model": "acme/none"}), 404),
    "routes, a bad model name": (_routes({"api_key": "{active}", "model": "a/b/c"}), 404),
    "routes, an unknown key": (_routes({"api_key": "sk-pt-nobody", "model": "acme/open"}), 401),
    "routes, a revoked key": (_routes({"api_key": "{revoked}", "model": "acme/open"}), 401),
    "routes, a closed account's key": (
        _routes({"api_key": "{closed}", "model": "acme/open"}),
        403,
    ),
    "authorize": (_authorize({"api_key": "{active}", "model": "acme/open"}), 200),
    "authorize, no endpoint allowed": (
        _authorize({"api_key": "{active}", "model": "acme/trainer"}),
        409,
    ),
    "authorize, only abroad": (_authorize({"api_key": "{active}", "model": "acme/abroad"}), 409),
    "authorize, the key stricter than its account": (
        _authorize({"api_key": "{strict}", "model": "acme/mixed"}),
        200,
    ),
    "authorize, an unlisted model": (
        _authorize({"api_key": "{active}", "model": "acme/none"}),
        404,
    ),
    "authorize, a revoked key": (_authorize({"api_key": "{revoked}", "model": "acme/open"}), 401),
    "authorize, a closed account's key": (
        _authorize({"api_key": "{closed}", "model": "acme/open"}),
        403,
    ),
}

# Requests it hands to ninja, which answers them as before.
NINJA = {
    "no token": ({"body": {"api_key": "{active}"}, "token": None}, 401),
    "a wrong token": ({"body": {"api_key": "{active}"}, "token": "not-the-token"}, 401),
    "another scheme": (
        {
            "body": {"api_key": "{active}"},
            "token": None,
            "headers": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        },
        401,
    ),
    "no JSON content type": (
        {"body": {"api_key": "{active}"}, "content_type": "text/plain"},
        415,
    ),
    "a form": (
        {"body": "api_key=x", "content_type": "application/x-www-form-urlencoded"},
        415,
    ),
    "a body that is not JSON": ({"body": b'{"api_key": '}, 400),
    "an empty body": ({"body": b""}, 422),
    "a JSON array": ({"body": [{"api_key": "{active}"}]}, 422),
    "a JSON string": ({"body": '"{active}"'}, 422),
    "an empty key": ({"body": {"api_key": ""}}, 422),
    "a key that is not a string": ({"body": {"api_key": 12345}}, 422),
    "a missing key": ({"body": {}}, 422),
    "a key too long": ({"body": {"api_key": "k" * 257}}, 422),
    "a lone surrogate": ({"body": b'{"api_key": "sk-\\ud800"}'}, 422),
    "the key nested": ({"body": {"payload": {"api_key": "{active}"}}}, 422),
    "a body over the size limit": (
        {"body": {"api_key": "k" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}},
        413,
    ),
    "GET": ({"method": "get", "body": None}, 405),
    "a trailing slash": ({"body": {"api_key": "{active}"}, "path": DECISIONS_URL + "/"}, 404),
    "routes, no token": (_routes({"api_key": "{active}", "model": "acme/open"}, token=None), 401),
    "routes, no model": (_routes({"api_key": "{active}"}), 422),
    "routes, a model too long": (_routes({"api_key": "{active}", "model": "a/" + "b" * 300}), 422),
    "routes, a model that is not a string": (_routes({"api_key": "{active}", "model": 7}), 422),
    "routes, a form": (
        _routes("api_key=x&model=acme/open", content_type="application/x-www-form-urlencoded"),
        415,
    ),
    "routes, GET": ({"method": "get", "path": ROUTES_URL, "body": None}, 405),
    "authorize, no token": (
        _authorize({"api_key": "{active}", "model": "acme/open"}, token=None),
        401,
    ),
    "authorize, no model": (_authorize({"api_key": "{active}"}), 422),
    "authorize, a form": (
        _authorize("api_key=x&model=acme/open", content_type="application/x-www-form-urlencoded"),
        415,
    ),
    "authorize, GET": ({"method": "get", "path": AUTHORIZE_URL, "body": None}, 405),
}


def _filled(request: dict, keys: dict) -> dict:
    body = request.get("body")
    if isinstance(body, dict | str):
        text = json.dumps(body) if isinstance(body, dict) else body
        for name, raw in keys.items():
            text = text.replace("{" + name + "}", raw)
        request = {**request, "body": text}
    elif body is None:
        request = {key: value for key, value in request.items() if key != "body"}
    return request


@pytest.mark.parametrize("case", list(FAST), ids=list(FAST))
def test_the_fast_path_answers_well_formed_requests_as_ninja_would(case, keys):
    request, status = FAST[case]
    fast, slow, ninja_ran = _both_ways(_filled(request, keys))
    assert not ninja_ran
    assert fast[0] == status
    assert fast == slow


@pytest.mark.parametrize("case", list(NINJA), ids=list(NINJA))
def test_any_other_request_is_answered_by_ninja_as_before(case, keys):
    request, status = NINJA[case]
    fast, slow, ninja_ran = _both_ways(_filled(request, keys))
    assert fast[0] == status, fast
    assert fast == slow
    assert ninja_ran or status in (404, 405)


@pytest.mark.parametrize(
    ("error", "status"),
    [(OperationalError("the server closed the connection"), 503), (RuntimeError("bug"), 500)],
    ids=["database unavailable", "unexpected error"],
)
@pytest.mark.parametrize("path", [DECISIONS_URL, ROUTES_URL, AUTHORIZE_URL])
def test_an_error_behind_the_fast_path_gets_the_apis_own_answer(error, status, path, keys):
    request = _filled({"path": path, "body": {"api_key": "{active}", "model": "acme/open"}}, keys)
    with (
        mock.patch.object(gateway_api, "decision_for_key", side_effect=error),
        mock.patch.object(gateway_api, "decision_and_routes", side_effect=error),
    ):
        fast, slow, ninja_ran = _both_ways(request)
    assert not ninja_ran
    assert fast[0] == status
    assert json.loads(fast[1])["detail"]
    assert fast == slow


def test_a_foreign_host_is_refused_before_the_fast_path(keys):
    request = _filled(
        {"body": {"api_key": "{active}"}, "headers": {"HTTP_HOST": "evil.example"}}, keys
    )
    fast, slow, _ = _both_ways(request)
    assert fast[0] == 400
    assert fast == slow


def test_the_fast_path_answer_carries_the_security_headers(keys):
    fast, _, _ = _both_ways(_filled({"body": {"api_key": "{active}"}}, keys))
    headers = dict(fast[2])
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in headers


def test_generations_are_not_the_fast_paths_business(keys):
    request = {"path": GENERATIONS_URL, "body": {"generations": []}}
    fast, slow, ninja_ran = _both_ways(request)
    assert ninja_ran
    assert fast[0] == 200
    assert fast == slow
