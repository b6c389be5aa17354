"""Analytics: off unless an operator configures a site, and then only for a visitor who
accepted it on the cookie notice.

The policy names "analytics services like Google Analytics" among the service providers
we share with. Nothing is shared by default: with PORTAL_ANALYTICS_PROVIDER unset the
portal loads nothing from another host. With it set, a visitor who accepts (the cookie
notice, or /legal/cookies/) gets the first-party loader static/js/analytics.js, which
fetches the provider's script, and a Content-Security-Policy that allows exactly the
provider's origin; a visitor who refuses, or never answers, gets neither. Which
cookies each provider sets is in privacy/cookies.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.http import HttpRequest

from privacy.cookies import CONSENT_ACCEPTED, CONSENT_REFUSED, NOTICE_COOKIE

PLAUSIBLE, MATOMO, GOOGLE = "plausible", "matomo", "google"
PROVIDER_NAMES = {PLAUSIBLE: "Plausible Analytics", MATOMO: "Matomo", GOOGLE: "Google Analytics"}

_SITE_IDS = {
    PLAUSIBLE: re.compile(r"[a-z0-9][a-z0-9.-]{0,252}", re.IGNORECASE),  # the site's domain
    MATOMO: re.compile(r"[0-9]{1,9}"),
    GOOGLE: re.compile(r"G-[A-Z0-9]{4,20}"),
}
_DEFAULT_ORIGINS = {PLAUSIBLE: "https://plausible.io"}
# Google's own list for a GA4 tag (developers.google.com/tag-platform/security/guides/csp):
# the script from googletagmanager.com, the hits to google-analytics.com and its regions.
_GOOGLE_SCRIPT = ("https://*.googletagmanager.com",)
_GOOGLE_HITS = (
    "https://*.google-analytics.com",
    "https://*.analytics.google.com",
    "https://*.googletagmanager.com",
)


class AnalyticsMisconfigured(ValueError):
    """PORTAL_ANALYTICS_* name no site the portal can load."""


@dataclass(frozen=True)
class AnalyticsSite:
    provider: str
    site_id: str
    # Where the loader fetches the script from; empty for Google's own hosts.
    origin: str

    @property
    def name(self) -> str:
        return PROVIDER_NAMES[self.provider]

    @property
    def script_sources(self) -> tuple[str, ...]:
        return (self.origin,) if self.origin else _GOOGLE_SCRIPT

    @property
    def hit_sources(self) -> tuple[str, ...]:
        return (self.origin,) if self.origin else _GOOGLE_HITS

    def csp(self, base: dict) -> dict:
        """`base` (SECURE_CSP) with this site's origins added where its script needs them:
        the script itself, and the visits it reports (a beacon, fetch or image)."""
        policy = {directive: list(sources) for directive, sources in base.items()}
        for directive, extra in (
            ("script-src", self.script_sources),
            ("connect-src", self.hit_sources),
            ("img-src", self.hit_sources),
        ):
            policy[directive] = [*policy.get(directive, []), *extra]
        return policy


def _origin(value: str) -> str:
    parts = urlsplit(value.rstrip("/"))
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise AnalyticsMisconfigured(
            f"PORTAL_ANALYTICS_ORIGIN must be an origin such as https://plausible.example.org, "
            f"not {value!r}."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise AnalyticsMisconfigured(
            "PORTAL_ANALYTICS_ORIGIN must use https (http only for a server on this machine)."
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_site(provider: str, site_id: str, origin: str) -> AnalyticsSite | None:
    """The site the settings name, None when analytics is off (no provider). Raises
    AnalyticsMisconfigured for a provider, site id or origin the portal cannot use."""
    provider = provider.strip().lower()
    if not provider:
        return None
    if provider not in PROVIDER_NAMES:
        raise AnalyticsMisconfigured(
            f"PORTAL_ANALYTICS_PROVIDER must be one of {', '.join(PROVIDER_NAMES)}, "
            f"not {provider!r}."
        )
    site_id = site_id.strip()
    if not _SITE_IDS[provider].fullmatch(site_id):
        raise AnalyticsMisconfigured(
            f"PORTAL_ANALYTICS_SITE_ID {site_id!r} is not a {PROVIDER_NAMES[provider]} site id."
        )
    origin = origin.strip() or _DEFAULT_ORIGINS.get(provider, "")
    if not origin and provider == MATOMO:
        raise AnalyticsMisconfigured("Matomo needs PORTAL_ANALYTICS_ORIGIN (its server).")
    return AnalyticsSite(provider, site_id, _origin(origin) if origin else "")


def configured_site() -> AnalyticsSite | None:
    """The configured site, or None when analytics is off or misconfigured: a
    configuration the portal cannot read loads nothing (`manage.py check` reports it)."""
    if not settings.PORTAL_ANALYTICS_PROVIDER:
        return None
    try:
        return read_site(
            settings.PORTAL_ANALYTICS_PROVIDER,
            settings.PORTAL_ANALYTICS_SITE_ID,
            settings.PORTAL_ANALYTICS_ORIGIN,
        )
    except AnalyticsMisconfigured:
        return None


def consent(request: HttpRequest) -> str | None:
    """The visitor's answer on the cookie notice: "accept", "refuse", or None."""
    value = request.COOKIES.get(NOTICE_COOKIE)
    return value if value in (CONSENT_ACCEPTED, CONSENT_REFUSED) else None


def site_for(request: HttpRequest) -> AnalyticsSite | None:
    """The site whose script this visitor's pages load: only once they accepted it."""
    site = configured_site()
    if site is None or request.COOKIES.get(NOTICE_COOKIE) != CONSENT_ACCEPTED:
        return None
    return site


class AnalyticsConsentMiddleware:
    """Widen the Content-Security-Policy to the analytics origin, for a visitor who
    accepted analytics and only then; every other answer keeps SECURE_CSP."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if not settings.PORTAL_ANALYTICS_PROVIDER:  # the default: nothing to do
            return response
        site = site_for(request)
        if site is not None and not hasattr(response, "_csp_config"):
            response._csp_config = site.csp(settings.SECURE_CSP)
        return response


def register_checks() -> None:
    checks.register(check_analytics_settings, checks.Tags.security)


def check_analytics_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        read_site(
            settings.PORTAL_ANALYTICS_PROVIDER,
            settings.PORTAL_ANALYTICS_SITE_ID,
            settings.PORTAL_ANALYTICS_ORIGIN,
        )
    except AnalyticsMisconfigured as error:
        return [checks.Error(str(error), id="privacy.E001")]
    return []
