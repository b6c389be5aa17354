"""The gateway API (/internal/v1/), built with django-ninja. See DESIGN.md, "Contracts".

The views only parse, call a selector or an action, and shape the answer: every rule
lives in logging_prefs (selectors, actions, eligibility) and catalog.selectors. The docs
UI stays off (it would load a CDN, which the CSP forbids); the schema is at
/internal/v1/openapi.json, behind the token in production.

Each endpoint is declared once, with `api.endpoint(path, ...)`: that registers the ninja
operation and, for the gateway's hot path, the fast path in front of ninja
(gateway.fast_path), which answers a well-formed, authorised call with the same view,
byte for byte as ninja would; an endpoint may also read its bodies under a limit of its
own (the generations batches).
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from ninja.errors import AuthenticationError
from pydantic import BaseModel

from catalog.selectors import Routes, format_price, region_refusal_detail
from gateway import errors
from gateway.auth import GatewayToken
from gateway.bodies import JSONOnlyParser
from gateway.errors import json_error
from gateway.schemas import (
    ERRORS,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    AuthorizeIn,
    AuthorizeOut,
    DataPolicy,
    DecisionIn,
    DecisionOut,
    ErrorOut,
    GenerationsIn,
    IngestOut,
    RouteOut,
    RoutesIn,
    RoutesOut,
)
from gateway.selectors import decision_and_routes
from logging_prefs.actions import do_ingest_generations
from logging_prefs.selectors import AccountInactive, Decision, UnknownKey, decision_for_key
from portal.compat import NinjaAPIWithOwnURLs
from portal.middleware import GATEWAY_API_PATH


@dataclass(frozen=True)
class GatewayEndpoint:
    """What the fast path knows of one POST endpoint (gateway.fast_path)."""

    # The operation's view, called as ninja calls it: view(request, payload).
    view: typing.Callable[[HttpRequest, BaseModel], HttpResponse]
    # The payload's schema when the fast path answers the endpoint itself, else None.
    fast_path_schema: type[BaseModel] | None
    # The most bytes a body may have here, when not Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
    body_limit: int | None


class GatewayAPI(NinjaAPIWithOwnURLs):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The POST endpoints by their full path (/internal/v1/...).
        self.endpoints: dict[str, GatewayEndpoint] = {}

    def endpoint(
        self, path: str, *, fast_path: bool = False, body_limit: int | None = None, **operation: Any
    ):
        """Declare a POST endpoint at `path` (under /internal/v1/): a ninja operation
        with `operation` (response, operation_id, summary...) and, with `fast_path`, also
        answered by the fast path, which validates the body with the view's `payload`
        schema and calls the view. `body_limit` replaces Django's body limit there."""

        def register(view):
            self.post(path, **operation)(view)
            schema = typing.get_type_hints(view)["payload"] if fast_path else None
            full_path = GATEWAY_API_PATH + path.removeprefix("/")
            self.endpoints[full_path] = GatewayEndpoint(view, schema, body_limit)
            return view

        return register

    def body_limit(self, path: str) -> int:
        """The most bytes a request body may have at `path`."""
        endpoint = self.endpoints.get(path)
        if endpoint is not None and endpoint.body_limit is not None:
            return endpoint.body_limit
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def url_patterns(self, patterns: list) -> list:
        # The tests check the JSON 404/405 answers, so a django-ninja upgrade that
        # changes how its patterns are built is noticed (portal/compat.py).
        for pattern in patterns:
            pattern.callback = errors.json_outside_operations(pattern.callback)
        patterns.append(re_path(r"^", errors.json_outside_operations(errors.no_such_endpoint)))
        return patterns


def _schema_needs_the_token_in_production(view):
    """Wrap the OpenAPI document's view: in production it answers only the gateway's
    token, as the endpoints it describes do (401 otherwise); in development
    (PORTAL_GATEWAY_SCHEMA_PUBLIC) it stays open for people and tools."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PORTAL_GATEWAY_SCHEMA_PUBLIC:
            try:
                GatewayToken()(request)
            except AuthenticationError as exc:
                return api.on_exception(request, exc)
        return view(request, *args, **kwargs)

    return wrapped


api = GatewayAPI(
    title="Portal gateway API",
    version="1",
    description=(
        "Called by the gateway with `Authorization: Bearer <PORTAL_GATEWAY_TOKEN>`. "
        "Every error answer is JSON with a readable `detail`."
    ),
    urls_namespace="gateway",
    docs_url=None,
    openapi_url="/openapi.json",
    docs_decorator=_schema_needs_the_token_in_production,
    auth=GatewayToken(),
    parser=JSONOnlyParser(),
)
errors.install(api)


def _json_answer(answer: BaseModel) -> HttpResponse:
    # Built and validated by the view, then serialised by pydantic in one call: ninja
    # would validate the model again through its Django-object wrapper, then encode a
    # dict with the json module (bench/decisions.py). Same document, same schema.
    return HttpResponse(answer.model_dump_json(), content_type="application/json; charset=utf-8")


def _decision_or_refusal(api_key: str) -> Decision | HttpResponse:
    """The key's decision, or the answer refusing it (_key_refusal)."""
    try:
        return decision_for_key(api_key)
    except (UnknownKey, AccountInactive) as refused:
        return _key_refusal(refused)


def _key_refusal(refused: UnknownKey | AccountInactive) -> HttpResponse:
    """401 for an unknown or revoked key, 403 when the key's account is not active
    (every endpoint that takes a key)."""
    if isinstance(refused, AccountInactive):
        return json_error(403, "The API key's account is not active.")
    return json_error(401, "Unknown or revoked API key.")


def _decision_out(decision: Decision) -> DecisionOut:
    """The decision's answer, as /decisions and /authorize give it."""
    return DecisionOut(
        key_id=decision.key_id,
        account=decision.account,
        log_prompts=decision.log_prompts,
        provider_policy=decision.provider_policy,
    )


def _routes_or_refusal(found: Routes | None, model: str) -> list[RouteOut] | HttpResponse:
    """The endpoints of `model` the decision allows (`found`), cheapest first, or the
    answer refusing them: 404 for a model the catalog does not list, 409 when none is
    allowed. The one place routes are answered: /routes and /authorize both use it."""
    if found is None:
        return json_error(404, f"No model named {model!r} is listed.")
    if found.only_abroad:
        return json_error(409, region_refusal_detail(model))
    if not found.endpoints:
        return json_error(
            409,
            f"The account's provider data-policy choices allow none of {model}'s "
            "endpoints, with the key's own rules narrowing them: the user can change them "
            "on the privacy page, and the key's rules on its page.",
        )
    return [
        RouteOut(
            provider=endpoint.provider,
            input_price=format_price(endpoint.input_price),
            output_price=format_price(endpoint.output_price),
            region=endpoint.region,
            data_policy=DataPolicy(
                trains_on_prompts=endpoint.trains_on_prompts,
                retains_prompts=endpoint.retains_prompts,
                retention_days=endpoint.retention_days,
                publishes_prompts=endpoint.publishes_prompts,
                zero_data_retention=endpoint.zero_data_retention,
            ),
        )
        for endpoint in found.endpoints
    ]


def _authorized(api_key: str, model: str) -> tuple[Decision, list[RouteOut]] | HttpResponse:
    """The key's decision and the endpoints of `model` it allows, or the first refusal in
    their order (401, 403, then 404, 409): what /routes and /authorize both answer. One
    query reads both (gateway.selectors)."""
    try:
        decision, routes = decision_and_routes(api_key, model)
    except (UnknownKey, AccountInactive) as refused:
        return _key_refusal(refused)
    found = _routes_or_refusal(routes, model)
    if isinstance(found, HttpResponse):
        return found
    return decision, found


@api.endpoint(
    "/decisions",
    fast_path=True,
    response={200: DecisionOut, 403: ErrorOut, **ERRORS},
    operation_id="decide",
    summary="What a key may log and where it may route",
    description=(
        "Read from the database on every call (nothing cached): a preference change is "
        "in force for the very next decision after it commits. 401 for an unknown or "
        "revoked key, 403 when the key's account is not active."
    ),
)
def decide(request: HttpRequest, payload: DecisionIn) -> HttpResponse:
    decision = _decision_or_refusal(payload.api_key)
    if isinstance(decision, HttpResponse):
        return decision
    return _json_answer(_decision_out(decision))


@api.endpoint(
    "/routes",
    fast_path=True,
    response={200: RoutesOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS},
    operation_id="routes",
    summary="Where a key's request for a model may go",
    description=(
        "The model's endpoints that the key's effective rules allow (its account's "
        "provider data-policy choices, narrowed by the key's own), cheapest first, read "
        "from the database on every call. 401 for an unknown or revoked key, 403 when the "
        "key's account is not active, 404 for a model the catalog does not list, 409 when "
        "those rules allow none of "
        'the model\'s endpoints (among them "Keep my requests in <region>": while it is '
        "on, only endpoints in the portal's own region are listed)."
    ),
)
def routes(request: HttpRequest, payload: RoutesIn) -> HttpResponse:
    answer = _authorized(payload.api_key, payload.model)
    if isinstance(answer, HttpResponse):
        return answer
    _, found = answer
    return _json_answer(RoutesOut(endpoints=found))


@api.endpoint(
    "/authorize",
    fast_path=True,
    response={200: AuthorizeOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS},
    operation_id="authorize",
    summary="The decision and the routes in one call",
    description=(
        "What /decisions and /routes answer for the same key and model, in one round "
        "trip: `decision` as /decisions answers it and `endpoints` as /routes does, read from "
        "the database on every call (a change is in force for the very next call after "
        "it commits). The same refusals, in the same order: 401 for an unknown or "
        "revoked key, 403 when the key's account is not active, 404 for a model the "
        "catalog does not list, 409 when the account's choices, narrowed by the key's "
        "rules, allow none of the model's endpoints."
    ),
)
def authorize(request: HttpRequest, payload: AuthorizeIn) -> HttpResponse:
    answer = _authorized(payload.api_key, payload.model)
    if isinstance(answer, HttpResponse):
        return answer
    decision, found = answer
    return _json_answer(AuthorizeOut(decision=_decision_out(decision), endpoints=found))


@api.endpoint(
    "/generations",
    # A batch of 1,000 records is beyond Django's default limit, which other URLs keep.
    body_limit=MAX_BATCH_BYTES,
    response={200: IngestOut, **ERRORS},
    operation_id="ingest_generations",
    summary="Store a batch of generation records",
    description=(
        f"Up to {MAX_BATCH} records. Metadata is always stored; prompt and completion "
        "text only when the key's effective logging setting allows it when the batch is "
        "written. A record whose id was stored before counts as a duplicate, not a second "
        "row. Bad records are rejected one by one, the rest of the batch is stored."
    ),
)
def ingest(request: HttpRequest, payload: GenerationsIn):
    return do_ingest_generations(records=payload.generations).as_dict()
