"""The fast path of the gateway's hot endpoints, in front of ninja.

GatewayFastPathMiddleware answers a well-formed, authorised POST to an endpoint declared
with `fast_path=True` (gateway.api: decisions, routes, authorize) itself, without resolving the
URL or running ninja's request cycle; every other request, and any such request it would
not accept as it is, goes on to ninja unchanged.

Decisions and routes are the platform's hot path: the gateway asks them for every
request it serves. Resolving the URL through three URLconfs and running an operation
(checks, a temporal response, the body's parameter model, the result's protocol) cost
more than a decision's database query (bench/decisions.py, bench/routing.py). This
middleware does only what that cycle does for such a request, with the same parts: the
GatewayToken check, the JSON body read as JSONOnlyParser reads it, the input schema's
validation, then the operation's own view; an exception goes to the API's own exception
handlers. A request it does not accept (no or a wrong token, a body that is not JSON or
not valid, a body too large) is passed on, so ninja answers it exactly as before, and
the OpenAPI document still describes both endpoints.

It sits after every middleware that shapes a gateway answer (security headers, CSP, the
Host check, X-Frame-Options) and before those that only concern signed-in browser
sessions, so an answer is the same byte for byte whichever way it came
(tests/gateway/test_gateway_fast_path.py).

It also reads the body of an authorised POST to an endpoint with a `body_limit` of its
own (the generations batches, MAX_BATCH_BYTES) under that limit, then hands the request
on to ninja: every other URL keeps Django's default limit.
"""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from pydantic import BaseModel

from gateway.api import api
from gateway.auth import GatewayToken
from gateway.bodies import declares_json
from portal.compat import set_request_body


class GatewayFastPathMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.authenticate = GatewayToken()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            endpoint = api.endpoints.get(request.path_info)
            if endpoint is not None:
                if endpoint.body_limit is not None:
                    refusal = self._read_body(request, endpoint.body_limit)
                    if refusal is not None:
                        return refusal
                if endpoint.fast_path_schema is not None:
                    payload = self._payload(request, endpoint.fast_path_schema)
                    if payload is not None:
                        try:
                            return endpoint.view(request, payload)
                        except Exception as exc:
                            return api.on_exception(request, exc)
        return self.get_response(request)

    def _read_body(self, request: HttpRequest, limit: int) -> HttpResponse | None:
        """Read an authorised request's body under `limit`, where Django would read it
        under DATA_UPLOAD_MAX_MEMORY_SIZE, the limit every other URL keeps.

        Only for a caller with the gateway's token, so nobody else makes the portal hold
        that much; and only when the declared length fits. Otherwise the body stays
        unread and ninja answers as for any URL (401; 413 from Django's own check of the
        length). None to go on, or the 413 for a body longer than it declared (possible
        under ASGI, never under WSGI, which reads no more than declared).
        """
        try:
            self.authenticate(request)
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except Exception:  # a refused token, a malformed length: ninja answers it
            return None
        if declared > limit:
            return None
        body = request.read(limit + 1)
        if len(body) > limit:
            return api.on_exception(request, RequestDataTooBig())
        set_request_body(request, body)
        return None

    def _payload(self, request: HttpRequest, schema: type[BaseModel]) -> BaseModel | None:
        """The request's validated body when ninja would accept the request as it is,
        else None."""
        if not declares_json(request.content_type or ""):
            return None
        try:
            self.authenticate(request)
            # A non-object body fails validation like an invalid one.
            return schema.model_validate(json.loads(request.body))
        except Exception:
            # An authentication error, an unreadable, oversized or invalid body: ninja
            # answers it (401, 400, 413, 415, 422) with its own message.
            return None
