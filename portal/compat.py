"""Private APIs of the libraries the portal builds on, imported here and nowhere else.

A library's undocumented or `internal` names change without notice between releases;
with every use going through this module, an upgrade that moves one breaks here, at
import, and is fixed in one file. Each section names the library and the version its
names were checked against; the code and the tests import these from here.
"""

from __future__ import annotations

# --- allauth (django-allauth 65.22) -----------------------------------------------------
# The sign-in flow: how a session authenticated (records kept in the session under this
# key), recording a sign-in by a method allauth does not know (a wallet), signing a
# `Login` in; whether a sensitive step needs reauthentication, and resuming the request
# it held; allauth's rate limiter, for the portal's own limits on its counters; an
# authenticator app (TOTP) set up from a known secret (the demo data).
from allauth.account.internal.flows import reauthentication as reauthentication_flow
from allauth.account.internal.flows.login import (
    AUTHENTICATION_METHODS_SESSION_KEY,
    get_authentication_records,
    perform_login,
    record_authentication,
)
from allauth.account.internal.flows.reauthentication import (
    is_reauthentication_required,
    resume_request,
)
from allauth.core.internal import ratelimit as allauth_ratelimit
from allauth.mfa.totp.internal.auth import TOTP

# --- django.contrib.admin (Django 6.1) --------------------------------------------------
# The admin's own unquoting of an object id taken from its URLs (`<path:object_id>`), and
# its answer to an unknown id (below).
from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

# --- django-ninja (1.7) -----------------------------------------------------------------
# The URL patterns a NinjaAPI serves come from its undocumented `_get_urls`; the gateway
# API wraps each one (JSON 404 and 405 answers) and adds a catch-all (below).
from ninja import NinjaAPI

__all__ = [
    "AUTHENTICATION_METHODS_SESSION_KEY",
    "NinjaAPIWithOwnURLs",
    "TOTP",
    "allauth_ratelimit",
    "get_authentication_records",
    "is_reauthentication_required",
    "object_does_not_exist_redirect",
    "perform_login",
    "reauthentication_flow",
    "record_authentication",
    "resume_request",
    "set_request_body",
    "unquote",
]


def object_does_not_exist_redirect(
    model_admin: ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    """The admin's "… with ID … doesn't exist" message and redirect to the admin index,
    as its own change and delete pages answer an unknown id (django.contrib.admin)."""
    return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)


class NinjaAPIWithOwnURLs(NinjaAPI):
    """A NinjaAPI whose URL patterns pass through `url_patterns` before Django sees them
    (django-ninja builds them in its undocumented `_get_urls`)."""

    def _get_urls(self):
        return self.url_patterns(super()._get_urls())

    def url_patterns(self, patterns: list) -> list:
        return patterns


# --- django.http (Django 6.1) -----------------------------------------------------------
# HttpRequest.body is Django's cache of the body it read under DATA_UPLOAD_MAX_MEMORY_SIZE;
# Django has no public way to read one URL's bodies under another limit, so the gateway
# reads its batches itself and leaves them where `request.body` finds them.


def set_request_body(request: HttpRequest, body: bytes) -> None:
    """Make `request.body` answer `body`, read by the caller from the request stream."""
    request._body = body
