"""The gateway API (/internal/v1/), built with django-ninja. See DESIGN.md, "Contracts".

The gateway (another service) calls it with a bearer token, never with a session, so
the views are CSRF-exempt (django-ninja's default for non-cookie auth). The views only
parse, call a selector or an action, and shape the answer: every rule lives in
logging_prefs.selectors / logging_prefs.actions.

Every error answer is JSON with a readable "detail": the exception handlers below
cover validation (422), unreadable bodies (400/415), oversized bodies (413), auth
(401), a busy or unreachable database (503), and anything unexpected (a logged 500);
GatewayAPI also turns Django's plain-text 405 and HTML 404 under /internal/v1/ into
JSON. The docs UI stays off (it would load a CDN, which the CSP forbids); the schema
is at /internal/v1/openapi.json, behind the token in production.

The routes endpoint answers with the catalog's endpoints of a model that the key's
account allows (catalog.selectors.routes_for).

The decisions and routes endpoints, the gateway's hot path, have a fast path in front
of ninja (GatewayFastPathMiddleware, at the end of this module) that answers
well-formed, authorised calls with the same parts, byte for byte as ninja would.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import BaseModel, Field, WithJsonSchema, field_validator

from catalog.selectors import format_price, routes_for
from logging_prefs.actions import do_ingest_generations
from logging_prefs.schemas import MAX_BATCH, MAX_BATCH_BYTES, GenerationRecord, StorableStr
from logging_prefs.selectors import AccountInactive, Decision, UnknownKey, decision_for_key
from portal.middleware import GATEWAY_API_PATH

logger = logging.getLogger(__name__)

# Its batches are read under a body limit of their own (GatewayFastPathMiddleware).
GENERATIONS_PATH = GATEWAY_API_PATH + "generations"


# --- Authentication ------------------------------------------------------------------


class GatewayToken(HttpBearer):
    """`Authorization: Bearer <PORTAL_GATEWAY_TOKEN>`, compared in constant time.

    No database work: the decision endpoint's single query is the key lookup. With no
    token configured every call is refused, so an unconfigured portal is closed, not open.
    """

    openapi_description = "The shared secret PORTAL_GATEWAY_TOKEN."

    def __call__(self, request: HttpRequest) -> bool:
        configured = settings.PORTAL_GATEWAY_TOKEN
        if not configured:
            raise AuthenticationError(
                message="The gateway API is disabled: PORTAL_GATEWAY_TOKEN is not configured."
            )
        # META, not request.headers: that builds a dict of every header on first use,
        # and this runs on each of the gateway's calls.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != self.openapi_scheme:
            raise AuthenticationError(
                message="Missing bearer token: send 'Authorization: Bearer <gateway token>'."
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> bool:
        # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold any.
        given = token.encode("utf-8", "surrogateescape")
        expected = settings.PORTAL_GATEWAY_TOKEN.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            raise AuthenticationError(message="Invalid gateway token.")
        return True


# --- Request bodies ------------------------------------------------------------------


class _BadBody(Exception):
    """Why a body could not be read; raised inside ninja's body parsing, which wraps it
    in HttpError(400) — the handler below answers with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JSONOnlyParser(Parser):
    """The body must be declared as JSON (415 otherwise) and parse as JSON (400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        content_type = request.content_type or ""
        if not _declares_json(content_type):
            raise _BadBody(
                415, f"Content-Type must be application/json, not {content_type or 'missing'}."
            )
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:
            raise _BadBody(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _BadBody(422, f"The request body must be a JSON object, not {_json_type(data)}.")
        return data


def _declares_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


# --- Schemas -------------------------------------------------------------------------


# The decision endpoint's schemas are plain pydantic models rather than ninja Schemas:
# a Schema validates through ninja's wrapper for reading Django objects, which the
# gateway's hot path does not need (bench/decisions.py). The OpenAPI document is the same.


class DecisionIn(BaseModel):
    # StorableStr refuses text that is not valid Unicode (a lone surrogate could not be
    # hashed): that is a malformed request (422), any other unknown key is a 401.
    api_key: StorableStr = Field(min_length=1, max_length=256, description="The raw API key.")


class ProviderPolicy(BaseModel):
    allow_training_paid: bool
    allow_training_free: bool
    allow_retention: bool
    allow_publication: bool
    zdr_only: bool


class DecisionOut(BaseModel):
    key_id: int = Field(description="The key's id; generation records carry it as key_id.")
    account: str = Field(
        description="The account's opaque public id.", json_schema_extra={"format": "uuid"}
    )
    log_prompts: bool = Field(
        description="Whether prompt and completion text may be logged for this key now."
    )
    provider_policy: ProviderPolicy


class RoutesIn(BaseModel):
    api_key: StorableStr = Field(min_length=1, max_length=256, description="The raw API key.")
    model: StorableStr = Field(
        min_length=1, max_length=200, description='The model, as "author/slug".'
    )


class DataPolicy(BaseModel):
    trains_on_prompts: bool
    retains_prompts: bool
    retention_days: int | None = Field(description="How long prompts are kept, if known.")
    publishes_prompts: bool
    zero_data_retention: bool = Field(description="Keeps nothing once the request is answered.")


class RouteOut(BaseModel):
    provider: str
    input_price: str = Field(description="USD per million prompt tokens, a decimal string.")
    output_price: str = Field(description="USD per million completion tokens, a decimal string.")
    data_policy: DataPolicy


class RoutesOut(BaseModel):
    endpoints: list[RouteOut] = Field(description="Cheapest first; never empty.")


# Each generation stays a raw JSON value until do_ingest_generations validates it on its
# own, so one bad record is rejected with its index instead of failing the batch (a
# list[GenerationRecord] would answer 422 for the whole batch). WithJsonSchema keeps the
# OpenAPI document honest: each item is described by GenerationRecord's own JSON schema
# (inlined, titled "GenerationRecord"), while the Python type says what the view
# receives. Generated from the model, the description cannot drift from the validation.
RawGenerationRecord = Annotated[
    Any,
    WithJsonSchema(
        {
            **GenerationRecord.model_json_schema(),
            "description": (
                "One generation the gateway served. Validated one record at a time: a "
                "record that does not match is listed in `rejected` with its index and "
                "the reason; the others are stored."
            ),
        }
    ),
]


class GenerationsIn(Schema):
    generations: list[RawGenerationRecord] = Field(
        max_length=MAX_BATCH, description=f"Up to {MAX_BATCH} generation records."
    )

    @field_validator("generations", mode="before")
    @classmethod
    def _batch_limit(cls, value: object) -> object:
        # Runs before the max_length check, to say what to do about it.
        if isinstance(value, list) and len(value) > MAX_BATCH:
            raise ValueError(
                f"at most {MAX_BATCH} generations per request, got {len(value)}: split the batch"
            )
        return value


class Rejection(Schema):
    index: int = Field(description="Position of the record in `generations`.")
    error: str = Field(description="Why it was rejected.")


class IngestOut(Schema):
    stored: int = Field(description="New rows stored (metadata always, text if allowed).")
    with_text: int = Field(description="Of those, how many kept prompt and completion text.")
    duplicates: int = Field(description="Records whose id was already stored or repeated.")
    rejected: list[Rejection]


class ErrorOut(Schema):
    detail: str


class ValidationProblem(Schema):
    loc: str = Field(description="Where, e.g. `generations` or `api_key`.")
    msg: str
    type: str


class ValidationErrorOut(Schema):
    detail: str = Field(description="Every problem, readable, joined with '; '.")
    errors: list[ValidationProblem]


_ERRORS: dict[int | tuple[int, ...], type[Schema]] = {
    (400, 401, 413, 415): ErrorOut,
    422: ValidationErrorOut,
    503: ErrorOut,
}


# --- The API -------------------------------------------------------------------------


def _json_error(status: int, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def _json_errors_outside_operations(view):
    """Wrap a URL pattern's view: Django's plain-text 405 and a raised Http404 (which
    would render the HTML 404 page) become JSON."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return _json_error(404, f"No gateway API endpoint at {request.path}.")
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            json_response = _json_error(
                405, f"Method {request.method} is not allowed here; use {allowed}."
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    # Called by another service, never from a browser session: no CSRF check, also
    # for the schema, the API root and unknown paths (a POST there is a JSON 404).
    return csrf_exempt(wrapped)


def _no_such_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


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


class GatewayAPI(NinjaAPI):
    # _get_urls is django-ninja's (pinned <2) hook for the URL patterns it serves; the
    # tests check the JSON 404/405 answers, so an upgrade that changes it is noticed.
    def _get_urls(self):
        urls = super()._get_urls()
        for pattern in urls:
            pattern.callback = _json_errors_outside_operations(pattern.callback)
        urls.append(re_path(r"^", _json_errors_outside_operations(_no_such_endpoint)))
        return urls


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


@api.post(
    "/decisions",
    response={200: DecisionOut, 403: ErrorOut, **_ERRORS},
    operation_id="decide",
    summary="What a key may log and where it may route",
    description=(
        "Read from the database on every call (nothing cached): a preference change is "
        "in force for the very next decision after it commits. 401 for an unknown or "
        "revoked key, 403 when the key's account is not active."
    ),
)
def decide(request: HttpRequest, payload: DecisionIn) -> HttpResponse:
    # A well-formed, authorised call is usually answered before it gets here, by
    # GatewayFastPathMiddleware, with the same function.
    return _decision_response(payload)


def _decision_or_refusal(api_key: str) -> Decision | HttpResponse:
    """The key's decision, or the answer refusing it: 401 for an unknown or revoked
    key, 403 when the key's account is not active (decisions and routes alike)."""
    try:
        return decision_for_key(api_key)
    except UnknownKey:
        return _json_error(401, "Unknown or revoked API key.")
    except AccountInactive:
        return _json_error(403, "The API key's account is not active.")


def _decision_response(payload: DecisionIn) -> HttpResponse:
    """The answer to a well-formed, authorised decision request: the decision (200), or
    its refusal (401, 403)."""
    decision = _decision_or_refusal(payload.api_key)
    if isinstance(decision, HttpResponse):
        return decision
    # Built and validated here, then serialised by pydantic in one call: ninja would
    # validate the dataclass again through its Django-object wrapper, then encode a dict
    # with the json module (bench/decisions.py). Same document, same schema.
    answer = DecisionOut(
        key_id=decision.key_id,
        account=decision.account,
        log_prompts=decision.log_prompts,
        provider_policy=decision.provider_policy,
    )
    return HttpResponse(answer.model_dump_json(), content_type="application/json; charset=utf-8")


@api.post(
    "/routes",
    response={200: RoutesOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, **_ERRORS},
    operation_id="routes",
    summary="Where a key's request for a model may go",
    description=(
        "The model's endpoints that the key's account allows under its provider "
        "data-policy choices, cheapest first, read from the database on every call. 401 "
        "for an unknown or revoked key, 403 when the key's account is not active, 404 for "
        "a model the catalog does not list, 409 when the account's choices allow none of "
        "the model's endpoints."
    ),
)
def routes(request: HttpRequest, payload: RoutesIn) -> HttpResponse:
    # Like decisions, usually answered by GatewayFastPathMiddleware with this function.
    return _routes_response(payload)


def _routes_response(payload: RoutesIn) -> HttpResponse:
    """The answer to a well-formed, authorised routes request: the allowed endpoints
    (200), or why there are none (401, 403, 404, 409)."""
    decision = _decision_or_refusal(payload.api_key)
    if isinstance(decision, HttpResponse):
        return decision
    endpoints = routes_for(model_id=payload.model, policy=decision.provider_policy)
    if endpoints is None:
        return _json_error(404, f"No model named {payload.model!r} is listed.")
    if not endpoints:
        return _json_error(
            409,
            f"The account's provider data-policy choices allow none of {payload.model}'s "
            "endpoints: the user can change them on the privacy page.",
        )
    answer = RoutesOut(
        endpoints=[
            RouteOut(
                provider=endpoint.provider,
                input_price=format_price(endpoint.input_price),
                output_price=format_price(endpoint.output_price),
                data_policy=DataPolicy(
                    trains_on_prompts=endpoint.trains_on_prompts,
                    retains_prompts=endpoint.retains_prompts,
                    retention_days=endpoint.retention_days,
                    publishes_prompts=endpoint.publishes_prompts,
                    zero_data_retention=endpoint.zero_data_retention,
                ),
            )
            for endpoint in endpoints
        ]
    )
    return HttpResponse(answer.model_dump_json(), content_type="application/json; charset=utf-8")


@api.post(
    "/generations",
    response={200: IngestOut, **_ERRORS},
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


# --- Exception handlers --------------------------------------------------------------


def _location(loc: tuple | list) -> str:
    parts = [str(part) for part in loc]
    if parts[:1] == ["body"]:
        parts = parts[1:]
        # ninja puts the body parameter's name ("payload") first; the caller never sees it.
        if parts[:1] == ["payload"]:
            parts = parts[1:]
    return ".".join(parts) or "request body"


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "loc": _location(error.get("loc", ())),
            "msg": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            "type": error.get("type", ""),
        }
        for error in exc.errors
    ]
    detail = "; ".join(f"{error['loc']}: {error['msg']}" for error in errors)
    return _json_error(422, detail or "The request is not valid.", errors=errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, _BadBody):
        if cause.status == 422:
            # Same shape as every other 422.
            error = {"loc": "request body", "msg": cause.message, "type": "model_type"}
            return _json_error(422, cause.message, errors=[error])
        return _json_error(cause.status, cause.message)
    response = _json_error(exc.status_code, str(exc))
    if isinstance(exc, AuthenticationError):
        response["WWW-Authenticate"] = 'Bearer realm="portal gateway API"'
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _json_error(404, "Not found.")


def _body_limit(request: HttpRequest) -> int:
    """The most bytes a request body may have at this request's URL."""
    if request.path_info == GENERATIONS_PATH:
        return MAX_BATCH_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _json_error(
        413,
        f"The request body is larger than {_body_limit(request)} bytes: send smaller batches.",
    )


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A lost connection, a deadlock or a lock timeout: nothing was stored (each batch
    # is one transaction), so the gateway may retry the same request.
    logger.warning("gateway API: database error on %s: %s", request.path, exc)
    response = _json_error(503, "The database is unavailable; retry the request shortly.")
    response["Retry-After"] = "1"
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("gateway API: unexpected error on %s", request.path, exc_info=exc)
    return _json_error(500, "Internal error; it has been logged.")


# --- The fast path of decisions and routes -------------------------------------------

# The calls the gateway makes for every request it serves: their input schema, and the
# function that answers a valid one (the ninja operations call the same functions).
_FAST_PATHS = {
    GATEWAY_API_PATH + "decisions": (DecisionIn, _decision_response),
    GATEWAY_API_PATH + "routes": (RoutesIn, _routes_response),
}


class GatewayFastPathMiddleware:
    """Answers a well-formed, authorised `POST /internal/v1/decisions` or
    `/internal/v1/routes` itself, without resolving the URL or running ninja's request
    cycle; every other request, and any such request it would not accept as it is, goes
    on to ninja unchanged.

    Decisions and routes are the platform's hot path: the gateway asks them for every
    request it serves. Resolving the URL through three URLconfs and running an operation
    (checks, a temporal response, the body's parameter model, the result's protocol)
    cost more than a decision's database query (bench/decisions.py, bench/routing.py).
    This middleware does only what that cycle does for such a request, with the same
    parts: the GatewayToken check, the JSON body read as JSONOnlyParser reads it, the
    input schema's validation, then the function the ninja operation calls too; an
    exception goes to the API's own exception handlers. A request it does not accept
    (no or a wrong token, a body that is not JSON or not valid, a body too large) is
    passed on, so ninja answers it exactly as before, and the OpenAPI document still
    describes both endpoints.

    It sits after every middleware that shapes a gateway answer (security headers, CSP,
    the Host check, X-Frame-Options) and before those that only concern signed-in
    browser sessions, so an answer is the same byte for byte whichever way it came
    (tests/logging_prefs/test_gateway_fast_path.py).

    It also reads the body of an authorised `POST /internal/v1/generations` under that
    endpoint's own limit (MAX_BATCH_BYTES), then hands the request on to ninja: every
    other URL keeps Django's default limit.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.authenticate = GatewayToken()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            route = _FAST_PATHS.get(request.path_info)
            if route is not None:
                schema, respond = route
                payload = self._payload(request, schema)
                if payload is not None:
                    try:
                        return respond(payload)
                    except Exception as exc:
                        return api.on_exception(request, exc)
            elif request.path_info == GENERATIONS_PATH:
                refusal = self._read_batch(request)
                if refusal is not None:
                    return refusal
        return self.get_response(request)

    def _read_batch(self, request: HttpRequest) -> HttpResponse | None:
        """Read an authorised generations batch under MAX_BATCH_BYTES, where Django
        would read it under DATA_UPLOAD_MAX_MEMORY_SIZE, the limit every other URL keeps.

        Only for a caller with the gateway's token, so nobody else makes the portal hold
        32 MB; and only when the declared length fits. Otherwise the body stays unread
        and ninja answers as for any URL (401; 413 from Django's own check of the
        length). None to go on to ninja, or the 413 for a body longer than it declared
        (possible under ASGI, never under WSGI, which reads no more than declared).
        """
        try:
            self.authenticate(request)
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except Exception:  # a refused token, a malformed length: ninja answers it
            return None
        if declared > MAX_BATCH_BYTES:
            return None
        body = request.read(MAX_BATCH_BYTES + 1)
        if len(body) > MAX_BATCH_BYTES:
            return api.on_exception(request, RequestDataTooBig())
        # HttpRequest.body is Django's cache of the read body: ninja's parsing reads it
        # there, and Django has no public way to read a body under another limit.
        request._body = body
        return None

    def _payload(self, request: HttpRequest, schema: type[BaseModel]) -> BaseModel | None:
        """The request's validated body when ninja would accept the request as it is,
        else None."""
        if not _declares_json(request.content_type or ""):
            return None
        try:
            self.authenticate(request)
            # A non-object body fails validation like an invalid one.
            return schema.model_validate(json.loads(request.body))
        except Exception:
            # An authentication error, an unreadable, oversized or invalid body: ninja
            # answers it (401, 400, 413, 415, 422) with its own message.
            return None
