"""What every page's layout needs from privacy."""

from __future__ import annotations

from django.http import HttpRequest

from privacy import policy
from privacy.cookies import NOTICE_COOKIE


def policy_notice(request: HttpRequest) -> dict:
    """`policy_notice`: the version in force, on the pages of a signed-in person who has
    not acknowledged it yet (the layout shows the notice); None otherwise. No query:
    the user row holds the newest version they acknowledged."""
    user = getattr(request, "user", None)
    if user is not None and policy.needs_acknowledgement(user):
        return {"policy_notice": policy.CURRENT}
    return {"policy_notice": None}


def cookie_notice(request: HttpRequest) -> dict:
    """`cookie_notice`: whether the page shows the cookie notice (until it is read)."""
    return {"cookie_notice": NOTICE_COOKIE not in request.COOKIES}
