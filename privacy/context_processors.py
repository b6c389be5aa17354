"""What every page's layout needs from privacy."""

from __future__ import annotations

from django.http import HttpRequest

from privacy import analytics, policy, terms
from privacy.cookies import NOTICE_COOKIE


def policy_notice(request: HttpRequest) -> dict:
    """`policy_notice`: the version in force, on the pages of a signed-in person who has
    not acknowledged it yet (the layout shows the notice); None otherwise. No query:
    the user row holds the newest version they acknowledged."""
    user = getattr(request, "user", None)
    if user is not None and policy.needs_acknowledgement(user):
        return {"policy_notice": policy.CURRENT}
    return {"policy_notice": None}


def terms_notice(request: HttpRequest) -> dict:
    """`terms_notice`: the Terms of Service in force, on the pages of a signed-in person
    who has not acknowledged them yet; None otherwise (privacy/terms.py: one query a
    session once read)."""
    return {"terms_notice": terms.CURRENT if terms.needs_acknowledgement(request) else None}


def cookie_notice(request: HttpRequest) -> dict:
    """`cookie_notice`: whether the page shows the cookie notice: until it is read, or,
    while analytics is configured, until the visitor accepted or refused it.
    `analytics_offered`: the configured analytics site, which the notice offers.
    `analytics`: the site whose script this page loads (only once accepted)."""
    site = analytics.configured_site()
    if site is None:
        show = NOTICE_COOKIE not in request.COOKIES
    else:
        show = analytics.consent(request) is None  # "read" is no answer to analytics
    return {
        "cookie_notice": show,
        "analytics_offered": site,
        "analytics": analytics.site_for(request),
    }
