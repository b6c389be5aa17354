"""Middleware that only browser requests need, skipped for the gateway API.

The gateway API (gateway.api, under GATEWAY_API_PATH) is called by another
service with a bearer token: no cookie, no session, no signed-in user, no flash message.
Loading an empty session, a lazy user, the message storage and the session tracking for
each of its calls is work whose result nobody reads, and on the decision endpoint, the
gateway's hot path, that work cost about as much as the decision itself
(bench/decisions.py).

These are Django's own classes with one change: under GATEWAY_API_PATH, `__call__`
hands the request straight to the next middleware, so neither its request nor its
response processing runs there. Every other path goes through them unchanged. They stay
subclasses, so Django's checks that need them (admin.E408-E410) still find them.
Middleware that Django's deploy checks look up by name (security, CSRF, clickjacking)
and allauth's, which allauth requires by name, are not replaced: they run everywhere,
and the gateway's views are CSRF-exempt.
"""

from __future__ import annotations

from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest
from django.middleware import common
from django.utils.cache import add_never_cache_headers

# Where portal.urls mounts the gateway API: its own JSON 404 answers every path below it.
GATEWAY_API_PATH = "/internal/v1/"
# The signed-in person's pages (/account/…: activity with prompt text, keys, data) and
# allauth's (/accounts/…: email addresses, sessions with IP addresses and browsers).
PERSONAL_PATHS = ("/account/", "/accounts/")


def is_gateway_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(GATEWAY_API_PATH)


class BrowserOnlyMixin:
    """Skip this middleware for gateway API requests (see the module docstring)."""

    def __call__(self, request: HttpRequest):
        if is_gateway_request(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(BrowserOnlyMixin, sessions_middleware.SessionMiddleware):
    pass


class CommonMiddleware(common.CommonMiddleware):
    def __call__(self, request: HttpRequest):
        if is_gateway_request(request):
            # The one part the gateway API needs too: a Host outside ALLOWED_HOSTS is
            # refused (DisallowedHost, a 400) here, as on every other path.
            request.get_host()
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationMiddleware(BrowserOnlyMixin, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnlyMixin, messages_middleware.MessageMiddleware):
    pass


class NoStoreMiddleware:
    """`Cache-Control: no-store` (Django's never_cache headers) on every answer under
    PERSONAL_PATHS, a page added later included: neither the browser's cache nor a proxy
    keeps a copy of a person's data, which the back button or the next user of a shared
    computer would otherwise find there."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if request.path_info.startswith(PERSONAL_PATHS):
            add_never_cache_headers(response)
        return response
