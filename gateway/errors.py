"""Every error answer of the gateway API is JSON with a readable "detail".

The exception handlers below (installed on the API by `install`) cover validation
(422), unreadable bodies (400/415), oversized bodies (413), auth (401), a busy or
unreachable database (503), and anything unexpected (a logged 500). Django's own
plain-text 405 and HTML 404 under /internal/v1/ become JSON too (`json_outside_operations`).
The fast path hands its exceptions to the same handlers (NinjaAPI.on_exception).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError, HttpError, ValidationError

from gateway.bodies import BadBody

if TYPE_CHECKING:
    from gateway.api import GatewayAPI

logger = logging.getLogger(__name__)


def json_error(status: int, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def json_outside_operations(view):
    """Wrap a URL pattern's view: Django's plain-text 405 and a raised Http404 (which
    would render the HTML 404 page) become JSON."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return json_error(404, f"No gateway API endpoint at {request.path}.")
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            json_response = json_error(
                405, f"Method {request.method} is not allowed here; use {allowed}."
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    # Called by another service, never from a browser session: no CSRF check, also
    # for the schema, the API root and unknown paths (a POST there is a JSON 404).
    return csrf_exempt(wrapped)


def no_such_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def _location(loc: tuple | list) -> str:
    parts = [str(part) for part in loc]
    if parts[:1] == ["body"]:
        parts = parts[1:]
        # ninja puts the body parameter's name ("payload") first; the caller never sees it.
        if parts[:1] == ["payload"]:
            parts = parts[1:]
    return ".".join(parts) or "request body"


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
    return json_error(422, detail or "The request is not valid.", errors=errors)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, BadBody):
        if cause.status == 422:
            # Same shape as every other 422.
            error = {"loc": "request body", "msg": cause.message, "type": "model_type"}
            return json_error(422, cause.message, errors=[error])
        return json_error(cause.status, cause.message)
    response = json_error(exc.status_code, str(exc))
    if isinstance(exc, AuthenticationError):
        response["WWW-Authenticate"] = 'Bearer realm="portal gateway API"'
    return response


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return json_error(404, "Not found.")


def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A lost connection, a deadlock or a lock timeout: nothing was stored (each batch
    # is one transaction), so the gateway may retry the same request.
    logger.warning("gateway API: database error on %s: %s", request.path, exc)
    response = json_error(503, "The database is unavailable; retry the request shortly.")
    response["Retry-After"] = "1"
    return response


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("gateway API: unexpected error on %s", request.path, exc_info=exc)
    return json_error(500, "Internal error; it has been logged.")


def install(api: GatewayAPI) -> None:
    """Register the handlers on `api` (the 413's message names the URL's own limit)."""

    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return json_error(
            413,
            f"The request body is larger than {api.body_limit(request.path_info)} bytes: "
            "send smaller batches.",
        )

    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(RequestDataTooBig, too_big)
    api.add_exception_handler(OperationalError, _database_unavailable)
    api.add_exception_handler(InterfaceError, _database_unavailable)
    api.add_exception_handler(Exception, _unexpected)
