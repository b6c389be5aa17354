"""Middleware of the identity app."""

from __future__ import annotations

from allauth.usersessions.middleware import UserSessionsMiddleware
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

# How often a signed-in session's "last seen" (and IP, user agent) is written. allauth
# writes and commits the session's row on every request: a database commit per page
# view, which waits for the WAL flush. While a purge writes gigabytes of WAL, that
# commit alone took another user's /account/privacy/ p99 from 18 ms to over 180 ms
# (bench/purge.py). The sessions page shows "last seen" to within this interval.
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
