"""Middleware of the identity app."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.usersessions.middleware import UserSessionsMiddleware
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.selectors import has_second_factor, used_second_factor

# How often a signed-in session's "last seen" (and IP, user agent) is written. allauth
# writes and commits the session's row on every request, and a commit waits for the WAL
# flush, which a running purge makes slow for everyone (bench/README.md, "purge"). The
# sessions page shows "last seen" to within this interval.
TRACK_INTERVAL_SECONDS = 5 * 60


class ThrottledUserSessionsMiddleware(UserSessionsMiddleware):
    """allauth's session tracking, at most once per TRACK_INTERVAL_SECONDS a session.

    A new session (a fresh key after every sign-in) is tracked on its first request, so
    every session still has its row, which is how account deletion finds and ends them.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        key = session.session_key if session is not None and signed_in else None
        # cache.add is atomic and true only when the key was absent: one cheap cache
        # round trip decides, instead of a write and a commit on every request.
        if key and cache.add(f"usersessions:tracked:{key}", True, TRACK_INTERVAL_SECONDS):
            return super().__call__(request)
        return self.get_response(request)


class StaffSecondFactorMiddleware:
    """No admin page opens for staff without a second factor used in this session
    (PORTAL_STAFF_REQUIRE_MFA).

    Every URL of the admin site is covered, its own and those its ModelAdmins add,
    because the check sits here and not in each view. Staff without an authenticator
    are sent to set one up; staff with one who signed in without it (before they set
    it up, say) confirm with it first.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not settings.PORTAL_STAFF_REQUIRE_MFA:
            return None
        match = request.resolver_match
        if match is None or "admin" not in match.namespaces:
            return None
        user = request.user
        if not (user.is_authenticated and user.is_staff):
            return None
        if not has_second_factor(user=user):
            messages.warning(
                request,
                "Support staff need a second factor before the admin opens: set up an "
                "authenticator app or a passkey here, then open the admin again.",
            )
            return HttpResponseRedirect(reverse("mfa_index"))
        if used_second_factor(request):
            return None
        methods = get_adapter(request).get_reauthentication_methods(user)
        confirm = next(
            (m["url"] for m in methods if m["id"].startswith("mfa_reauthenticate")),
            reverse("mfa_reauthenticate"),
        )
        messages.info(request, "Confirm with your second factor to open the admin.")
        return HttpResponseRedirect(f"{confirm}?{urlencode({'next': request.get_full_path()})}")
