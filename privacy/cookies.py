"""Every cookie the portal sets, for the cookie notice and /legal/cookies/.

The policy: "We use cookies to store information about your session to enhance your
experience on our platform. By using our services, you consent to our use of these
methods." The portal sets only the cookies below, all first-party and needed for the
site to work: no analytics, advertising or third-party cookies
(tests/privacy/test_cookies.py fails if a journey through the site meets a cookie this
list does not name).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

NOTICE_COOKIE = "cookie_notice"
NOTICE_MAX_AGE = 365 * 24 * 60 * 60


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
            "Remembers that you have read the cookie notice, so it is not shown again.",
            _days(NOTICE_MAX_AGE),
        ),
    ]
