"""Where a form sends the person next: the `next` a request carries, when it is a path on
this site, or the view's own fallback.

Every redirect target taken from a request is checked here: the wallet pages, the
cookie and policy notices, and allauth's pages (AccountAdapter.is_safe_url). Django's
redirect() takes a bare word ("x") for a URL name and raises NoReverseMatch, a 500; a
URL naming a host ("//host", "https://elsewhere") is an open redirect; a newline cannot
go into a Location header. So only a path on this site is followed, never a URL name,
and never another host, not even another of ALLOWED_HOSTS.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

REDIRECT_FIELD_NAME = "next"


def is_local_path(request: HttpRequest, url: str) -> bool:
    """Whether `url` is a path on this site: one leading "/", no scheme, no host, and no
    whitespace or control character anywhere."""
    if not url.startswith("/") or url.startswith(("//", "/\\")):
        return False
    if any(not character.isprintable() or character.isspace() for character in url):
        return False
    # Django's own check as well (a backslash read as a slash, an encoded scheme…),
    # against this request's host only.
    return url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def requested_next(request: HttpRequest) -> str | None:
    """The request's `next` (the form's, else the query string's) when it is a path on
    this site, else None."""
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if url and is_local_path(request, url):
        return url
    return None


def safe_next(request: HttpRequest, *, fallback: str) -> str:
    """The URL to redirect to: the request's `next` when it is a path on this site, else
    `fallback` (a URL, or a URL name resolved here). Never a URL name from the request."""
    return requested_next(request) or resolve_url(fallback)
