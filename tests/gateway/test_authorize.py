"""POST /internal/v1/authorize: the decision and the routes in one round trip. For the
same key and model it answers exactly what /decisions and /routes answer, refusals
included, read from the database on every call."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey
from catalog.selectors import ROUTES_COLUMNS, ROUTES_FROM, model_id_parts, routes_from_rows
from gateway import api as gateway_api
from gateway.errors import json_error
from gateway.prepared import _PreparedCursor, _statement, fetch_all
from gateway.selectors import _AUTHORIZE_SQL, decision_and_routes
from logging_prefs.actions import do_set_api_key_in_region, do_set_logging_preferences
from logging_prefs.selectors import DECISION_SQL, AccountInactive, UnknownKey, decision_for_key
from tests.factories.accounts import UserFactory
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.gateway import AUTHORIZE_URL, OPENAPI_URL, create_key
from tests.helpers.regions import abroad, home

pytestmark = pytest.mark.django_db

MODELS = ["acme/open", "acme/trainer", "acme/abroad", "acme/mixed", "acme/none", "a/b/c"]


@pytest.fixture
def catalog():
    """acme/open: two endpoints a new account allows; acme/trainer: none it allows;
    acme/abroad: one only outside the portal's region; acme/mixed: one in, one out."""
    open_model = LanguageModelFactory(slug="open")
    EndpointFactory(model=open_model, provider=ProviderFactory(name="Dear"), input_price=9)
    EndpointFactory(model=open_model, provider=ProviderFactory(name="Cheap"), input_price=1)
    EndpointFactory(model=LanguageModelFactory(slug="trainer"), trains_on_prompts=True)
    EndpointFactory(model=LanguageModelFactory(slug="abroad"), region=abroad())
    mixed = LanguageModelFactory(slug="mixed")
    EndpointFactory(model=mixed, region=abroad())
    EndpointFactory(model=mixed, region=home(), input_price=Decimal("5"))


@pytest.fixture
def keys(catalog) -> dict[str, str]:
    active = create_key(UserFactory())
    revoked = create_key(UserFactory())
    do_revoke_api_key(api_key=revoked.api_key, acting_user=revoked.user)
    closed = create_key(UserFactory())
    closed.user.is_active = False
    closed.user.save(update_fields=["is_active"])
    roaming = create_key(UserFactory())
    do_set_logging_preferences(
        user=roaming.user,
        acting_user=roaming.user,
        changes={"in_region_only": False, "allow_training_free": True, "allow_training_paid": True},
    )
    strict = create_key(roaming.user, name="Strict app")
    do_set_api_key_in_region(api_key=strict.api_key, acting_user=strict.user, in_region_only=True)
    never = create_key(active.user, logging=ApiKey.Logging.NEVER, name="Never")
    return {
        "active": active.raw,
        "revoked": revoked.raw,
        "closed": closed.raw,
        "roaming": roaming.raw,
        "strict": strict.raw,
        "never": never.raw,
        "unknown": "sk-pt-nobody",
    }


def decisions_and_routes(gateway, raw_key: str, model: str) -> tuple[int, dict]:
    """What a gateway learnt with two calls: the decision, then the routes (status and
    body as authorize would give them)."""
    decision = gateway.decide(raw_key)
    if decision.status_code != 200:
        return decision.status_code, decision.json()
    routes = gateway.routes(raw_key, model)
    if routes.status_code != 200:
        return routes.status_code, routes.json()
    return 200, {"decision": decision.json(), "endpoints": routes.json()["endpoints"]}


def answer(response) -> tuple[int, dict]:
    return response.status_code, response.json()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("who", ["active", "revoked", "closed", "roaming", "strict", "never"])
def test_authorize_answers_what_decisions_and_routes_answer(gateway, keys, who, model):
    expected = decisions_and_routes(gateway, keys[who], model)
    assert answer(gateway.authorize(keys[who], model)) == expected


# The routes alone, in their own query: what the one statement is held to.
ROUTES_ALONE_SQL = (
    "SELECT "  # noqa: S608 (table names)
    + ROUTES_COLUMNS
    + ROUTES_FROM
    + " ORDER BY e.input_price, e.output_price, p.name"
)


def _read_apart(raw_key: str, model: str):
    try:
        decision = decision_for_key(raw_key)
    except (UnknownKey, AccountInactive) as refused:
        return type(refused)
    parts = model_id_parts(model)
    if parts is None:
        return decision, None
    rows = fetch_all(ROUTES_ALONE_SQL, list(parts))
    return decision, routes_from_rows(rows, decision.provider_policy)


def _read_together(raw_key: str, model: str):
    try:
        return decision_and_routes(raw_key, model)
    except (UnknownKey, AccountInactive) as refused:
        return type(refused)


@pytest.mark.parametrize("model", [*MODELS, "acme/bare", "acme/\x00", "acme/"])
def test_the_one_statement_reads_what_the_two_queries_read(keys, model):
    # The statement /authorize and /routes run (gateway.selectors) against the
    # decision's and the routes' own queries, for every kind of key: the same decision,
    # the same endpoints in the same order, the same refusals.
    LanguageModelFactory(author="acme", slug="bare")
    for raw_key in keys.values():
        assert _read_together(raw_key, model) == _read_apart(raw_key, model)


def test_every_status_is_among_the_cases(gateway, keys):
    statuses = {gateway.authorize(keys[who], model).status_code for who in keys for model in MODELS}
    assert statuses == {200, 401, 403, 404, 409}


def test_an_authorisation_carries_the_decision_and_the_routes(gateway, keys):
    response = gateway.authorize(keys["active"], "acme/open")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"decision", "endpoints"}
    assert body["decision"]["log_prompts"] is True
    assert [e["provider"] for e in body["endpoints"]] == ["Cheap", "Dear"]
    never = gateway.authorize(keys["never"], "acme/open").json()
    assert never["decision"]["log_prompts"] is False


def test_refusals_carry_the_portals_reason(gateway, keys):
    assert gateway.authorize(keys["unknown"], "acme/open").json() == {
        "detail": "Unknown or revoked API key."
    }
    assert gateway.authorize(keys["closed"], "acme/open").json() == {
        "detail": "The API key's account is not active."
    }
    assert "No model named" in gateway.authorize(keys["active"], "acme/none").json()["detail"]
    assert "privacy page" in gateway.authorize(keys["active"], "acme/trainer").json()["detail"]


def test_a_change_is_in_force_for_the_next_authorisation(gateway, keys):
    raw = keys["active"]
    assert gateway.authorize(raw, "acme/trainer").status_code == 409
    user = ApiKey.objects.get(pk=gateway.decide(raw).json()["key_id"]).user
    do_set_logging_preferences(
        user=user,
        acting_user=user,
        changes={"allow_training_free": True, "allow_training_paid": True, "log_prompts": False},
    )
    now = gateway.authorize(raw, "acme/trainer")
    assert now.status_code == 200
    assert now.json()["decision"]["log_prompts"] is False
    assert answer(now) == decisions_and_routes(gateway, raw, "acme/trainer")

    do_set_logging_preferences(
        user=user,
        acting_user=user,
        changes={"allow_training_free": False, "allow_training_paid": False, "log_prompts": True},
    )
    assert gateway.authorize(raw, "acme/trainer").status_code == 409
    assert gateway.authorize(raw, "acme/open").json()["decision"]["log_prompts"] is True


def test_a_revoked_key_is_refused_on_the_next_authorisation(gateway, key, catalog):
    assert gateway.authorize(key.raw, "acme/open").status_code == 200
    do_revoke_api_key(api_key=key.api_key, acting_user=key.user)
    response = gateway.authorize(key.raw, "acme/open")
    assert answer(response) == (401, {"detail": "Unknown or revoked API key."})


def test_the_region_choice_of_the_key_is_in_force_at_once(gateway, key, catalog):
    do_set_logging_preferences(
        user=key.user, acting_user=key.user, changes={"in_region_only": False}
    )
    assert len(gateway.authorize(key.raw, "acme/mixed").json()["endpoints"]) == 2
    do_set_api_key_in_region(api_key=key.api_key, acting_user=key.user, in_region_only=True)
    after = gateway.authorize(key.raw, "acme/mixed").json()
    assert [e["region"] for e in after["endpoints"]] == [home()]
    assert after["decision"]["provider_policy"]["in_region_only"] is True


def test_routes_and_authorize_share_one_routes_computation(gateway, keys):
    """A rule added to the routes (gateway.api._routes_or_refusal) is in force for both."""
    refusal = json_error(409, "A new rule rules this out.")
    with mock.patch.object(gateway_api, "_routes_or_refusal", return_value=refusal) as computed:
        by_routes = gateway.routes(keys["active"], "acme/open")
        by_authorize = gateway.authorize(keys["active"], "acme/open")
    assert computed.call_count == 2
    expected = (409, {"detail": "A new rule rules this out."})
    assert answer(by_routes) == answer(by_authorize) == expected


# --- The same cost as the routes: the decision's prepared query, then the routes' ------


@pytest.mark.parametrize(
    ("model", "status"),
    [("acme/open", 200), ("acme/nothing-here", 404), ("no-slash", 404)],
)
def test_an_authorisation_costs_one_query(gateway, keys, django_assert_num_queries, model, status):
    # The decision and the routes in one statement (gateway.selectors).
    with django_assert_num_queries(1):
        assert gateway.authorize(keys["active"], model).status_code == status
    with django_assert_num_queries(1):
        assert gateway.routes(keys["active"], model).status_code == status


def test_a_refused_authorisation_stops_at_the_first_refusal(
    gateway, keys, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert gateway.authorize(keys["unknown"], "acme/open").status_code == 401
    with django_assert_num_queries(0):
        assert gateway.post(AUTHORIZE_URL, {"api_key": keys["active"]}).status_code == 422


def test_both_queries_are_prepared_statements_prepared_once(gateway, keys):
    # Earlier tests share the connection: start from nothing prepared.
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    _PreparedCursor._prepared.pop(connection.connection.pgconn, None)
    for _ in range(2):
        assert gateway.authorize(keys["active"], "acme/open").status_code == 200
        assert gateway.routes(keys["active"], "acme/open").status_code == 200
        assert gateway.decide(keys["active"]).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        names = sorted(name for (name,) in cursor.fetchall())
    # The decision's statement and the one that reads it with the routes, each
    # prepared once on the connection.
    expected = [_statement(DECISION_SQL, 1)[0], _statement(_AUTHORIZE_SQL, 3)[0]]
    assert names == sorted(name.decode() for name in expected)


def test_no_health_check_runs_after_the_decision_proved_the_connection(gateway, keys, monkeypatch):
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    connection.health_check_done = False
    assert gateway.authorize(keys["active"], "acme/open").status_code == 200
    assert checks == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"api_key": "k"}, "model: Field required"),
        ({"model": "acme/open"}, "api_key: Field required"),
        ({"api_key": "k", "model": ""}, "model: String should have at least 1 character"),
        ({"api_key": "k", "model": 7}, "model: Input should be a valid string"),
    ],
)
def test_a_malformed_request_is_a_readable_422(gateway, body, where):
    response = gateway.post(AUTHORIZE_URL, body)
    assert response.status_code == 422
    assert where in response.json()["detail"]


def test_the_openapi_document_describes_authorize(gateway):
    document = gateway.client.get(OPENAPI_URL, HTTP_AUTHORIZATION=f"Bearer {gateway.token}")
    operation = document.json()["paths"]["/internal/v1/authorize"]["post"]
    assert operation["operationId"] == "authorize"
    assert set(operation["responses"]) >= {"200", "401", "403", "404", "409", "422", "503"}
    schemas = document.json()["components"]["schemas"]
    assert set(schemas["AuthorizeOut"]["properties"]) == {"decision", "endpoints"}
