"""Property-based testing of the gateway API from its own OpenAPI document.

Schemathesis reads /internal/v1/openapi.json from the WSGI application in-process and
generates a few hundred requests per run (valid and invalid bodies, odd strings,
boundary numbers): no answer may be a server error, every answer must match the
document (status code, content type, body schema), and no request the document calls
valid may be refused as invalid.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.demo_data import load_demo_catalog
from portal.wsgi import application
from tests.helpers.gateway import AUTHORIZE_URL, GENERATIONS_URL, OPENAPI_URL

AUTH = {"Authorization": "Bearer test-gateway-token"}
ROUTES_URL = "/internal/v1/routes"
ROUTED_MODEL = "openai/gpt-4o"
EXAMPLES_PER_OPERATION = 150


# Read from the app itself (no database needed for the document). Loaded when the module
# is collected: schemathesis's lazy from_fixture() does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi(OPENAPI_URL, application)


def _aim_at_a_real_key(case, key_id: int, raw_key: str) -> None:
    """Make every other generated record storable, so the insert path (text decision,
    duplicates, the COPY into PostgreSQL) sees generated strings and numbers too:
    a real key, a plausible time and cost; the other fields stay as generated. The
    remaining records stay entirely as generated."""
    body = case.body
    if case.path in (ROUTES_URL, AUTHORIZE_URL) and isinstance(body, dict):
        # A real key, and for about half the cases a listed model, so that routes (and
        # authorisations) are answered (200, 409) and not only refused.
        if isinstance(body.get("api_key"), str):
            body["api_key"] = raw_key
        if isinstance(body.get("model"), str) and len(body["model"]) % 2 == 0:
            body["model"] = ROUTED_MODEL
        return
    if case.path != GENERATIONS_URL or not isinstance(body, dict):
        return
    items = body.get("generations")
    if not isinstance(items, list):
        return
    now = timezone.now()
    for index, item in enumerate(items):
        if isinstance(item, dict) and index % 2 == 0:
            item["key_id"] = key_id
            item["created_at"] = (now - dt.timedelta(seconds=index)).isoformat()
            item["cost_usd"] = "0.00123"


@pytest.fixture
def routed_model():
    load_demo_catalog()  # ROUTED_MODEL among them


# The WSGI handler, unlike the test client, closes a connection left in a transaction at
# the end of each request: the data must be committed, hence a transactional database.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_gateway_api_never_answers_with_a_server_error(case, key, routed_model):
    _aim_at_a_real_key(case, key.api_key.pk, key.raw)
    response = case.call(headers=AUTH)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            # A request the document calls valid is not refused as invalid (422): what
            # the portal refuses, the document says (e.g. NUL in a string).
            positive_data_acceptance,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    if response.status_code >= 400:
        assert "detail" in response.json()


def _string_properties(node, path=""):
    """(path, schema) of every string a request body's schema holds, nested included."""
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield path, node
        for key, value in node.items():
            yield from _string_properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_properties(value, f"{path}/{index}")


def test_the_document_says_that_no_string_may_hold_nul():
    """The portal refuses NUL in every string it is sent (gateway.schemas.StorableStr;
    the answers are tested in test_decisions, test_authorize and test_ingest): the
    document says so, so that a request it calls valid is never refused for it."""
    components = schema.raw_schema["components"]["schemas"]
    strings = [
        (f"{name}{path}", node)
        for name in ("DecisionIn", "RoutesIn", "AuthorizeIn", "GenerationsIn")
        for path, node in _string_properties(components[name])
        # Formats, choices and a cost given as a decimal string exclude NUL already.
        if "format" not in node and "enum" not in node and "/cost_usd/" not in path
    ]
    assert len(strings) >= 10
    for where, node in strings:
        assert "pattern" in node, where
        assert re.search(node["pattern"], "sk-pt-\x00") is None, where
        assert re.search(node["pattern"], "sk-pt-ok") is not None, where
