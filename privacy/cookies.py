"""Every cookie the portal sets, for the cookie notice and /legal/cookies/.

The policy: "We use cookies to store information about your session to enhance your
experience on our platform. By using our services, you consent to our use of these
methods." The portal sets only the cookies below, all first-party and needed for the
site to work: no advertising or third-party cookies (tests/privacy/test_cookies.py fails
if a journey through the site meets a cookie this list does not name). Analytics is off
unless an operator configures it (privacy/analytics.py); its cookies, if the provider
sets any, are listed then, and set only for a visitor who accepted analytics.

The notice's cookie holds the answer: "1" read (no analytics was offered), "accept" or
"refuse" analytics.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

NOTICE_COOKIE = "cookie_notice"
NOTICE_MAX_AGE = 365 * 24 * 60 * 60
NOTICE_READ, CONSENT_ACCEPTED, CONSENT_REFUSED = "1", "accept", "refuse"

# The cookies each analytics provider's script sets, as (name, purpose, lifetime), and
# the prefixes by which refusing after accepting finds them to delete.
ANALYTICS_COOKIES = {
    "plausible": (),
    "matomo": (
        ("_pk_id.*", "Matomo: tells your visits apart, without naming you.", "13 months"),
        ("_pk_ses.*", "Matomo: groups the pages of one visit.", "30 minutes"),
    ),
    "google": (
        ("_ga", "Google Analytics: tells your visits apart, without naming you.", "2 years"),
        ("_ga_*", "Google Analytics: keeps the state of your current visit.", "2 years"),
    ),
}


@dataclass(frozen=True)
class Cookie:
    name: str
    purpose: str
    lifetime: str


def _days(seconds: int) -> str:
    days = seconds // (24 * 60 * 60)
    return f"{days} days" if days != 365 else "1 year"


def cookies() -> list[Cookie]:
    session_lifetime = (
        "until you close the browser"
        if settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
        else _days(settings.SESSION_COOKIE_AGE)
    )
    return [
        Cookie(
            settings.SESSION_COOKIE_NAME,
            "Keeps you signed in, and holds a sign-in in progress (such as the message a "
            "wallet is asked to sign). Set when you sign in or start signing in.",
            f"{session_lifetime}, or until you sign out",
        ),
        Cookie(
            settings.CSRF_COOKIE_NAME,
            "Protects the site's forms against cross-site request forgery. Set on a page "
            "with a form.",
            _days(settings.CSRF_COOKIE_AGE),
        ),
        Cookie(
            "messages",
            "Carries a one-time confirmation (such as “Your profile has been saved”) to "
            "the next page, then is removed.",
            "until the next page",
        ),
        Cookie(
            NOTICE_COOKIE,
            "Remembers your answer to the cookie notice (read; or analytics accepted or "
            "refused), so it is not shown again.",
            _days(NOTICE_MAX_AGE),
        ),
        *analytics_cookies(),
    ]


def analytics_cookies() -> list[Cookie]:
    """The configured analytics provider's cookies (none while analytics is off)."""
    from privacy.analytics import configured_site

    site = configured_site()
    if site is None:
        return []
    return [
        Cookie(name, f"{purpose} Set only if you accept analytics.", lifetime)
        for name, purpose, lifetime in ANALYTICS_COOKIES[site.provider]
    ]


def analytics_cookie_names(names) -> list[str]:
    """Of the cookie `names` a browser sent, those an analytics script may have set."""
    patterns = [name for entries in ANALYTICS_COOKIES.values() for name, _, _ in entries]
    return [
        name
        for name in names
        if any(
            name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))
            for pattern in patterns
        )
    ]
