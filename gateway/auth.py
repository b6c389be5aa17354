"""The gateway's authentication: the shared secret PORTAL_GATEWAY_TOKEN as a bearer token.

The gateway (another service) calls the API with this token, never with a session, so
the views are CSRF-exempt (django-ninja's default for non-cookie auth).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer


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
