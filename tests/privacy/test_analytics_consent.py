"""Analytics: off by default; when an operator configures a site, its script loads and
the Content-Security-Policy allows exactly its origin only for a visitor who accepted it
on the cookie notice. A visitor who refuses, or never answers, loads nothing from
another host. The choice is a plain form (no script needed) that can be changed on
/legal/cookies/, and bad input on it never errors."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from privacy.analytics import AnalyticsMisconfigured, read_site
from privacy.cookies import NOTICE_COOKIE

pytestmark = pytest.mark.django_db

ORIGIN = "https://stats.example.org"
CONSENT_URL = "/legal/cookies/consent/"
LOADER = "/static/js/analytics.js"


@pytest.fixture
def plausible(settings):
    settings.PORTAL_ANALYTICS_PROVIDER = "plausible"
    settings.PORTAL_ANALYTICS_SITE_ID = "portal.example.org"
    settings.PORTAL_ANALYTICS_ORIGIN = ORIGIN
    return settings


def visitor(answer: str | None) -> Client:
    client = Client()
    if answer is not None:
        client.cookies[NOTICE_COOKIE] = answer
    return client


def policy_of(response) -> dict[str, list[str]]:
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in response["Content-Security-Policy"].split("; ")
    }


def unconfigured_policy() -> dict[str, list[str]]:
    from django.utils.csp import build_policy

    return policy_of({"Content-Security-Policy": build_policy(django_settings.SECURE_CSP)})


@pytest.mark.parametrize("answer", [None, "1", "accept", "refuse", "junk"])
def test_with_analytics_off_no_page_loads_anything_from_another_host(answer):
    for url in ("/", "/models/", "/legal/cookies/", "/legal/service-providers/"):
        response = visitor(answer).get(url)
        assert response.status_code == 200, url
        assert policy_of(response) == unconfigured_policy(), url
        assert LOADER not in response.text and "https://" not in response["Content-Security-Policy"]
    page = visitor(answer).get("/legal/cookies/")
    assert "This site runs no analytics" in page.text
    assert 'name="analytics"' not in page.text  # nothing to choose


@pytest.mark.parametrize("answer", [None, "1", "refuse", "junk"])
def test_configured_but_not_accepted_loads_nothing_from_another_host(plausible, answer):
    for url in ("/", "/models/", "/legal/cookies/", "/legal/privacy/"):
        response = visitor(answer).get(url)
        assert policy_of(response) == unconfigured_policy(), url
        assert LOADER not in response.text and ORIGIN not in response.text, url


def test_configured_and_accepted_loads_the_script_and_allows_exactly_its_origin(plausible):
    response = visitor("accept").get("/models/")
    assert LOADER in response.text
    assert f'data-origin="{ORIGIN}"' in response.text
    assert 'data-site="portal.example.org"' in response.text
    policy, base = policy_of(response), unconfigured_policy()
    for directive in ("script-src", "connect-src", "img-src"):
        assert policy[directive] == [*base[directive], ORIGIN], directive
    assert {
        k: v for k, v in policy.items() if k not in ("script-src", "connect-src", "img-src")
    } == {k: v for k, v in base.items() if k not in ("script-src", "connect-src", "img-src")}


def test_the_notice_offers_a_choice_while_unanswered_and_is_gone_once_answered(plausible):
    page = visitor(None).get("/models/")
    assert "Accept analytics" in page.text and "Refuse analytics" in page.text
    assert f'action="{CONSENT_URL}"' in page.text
    # "OK" from before analytics was configured is no answer to analytics.
    assert "Refuse analytics" in visitor("1").get("/models/").text
    for answer in ("accept", "refuse"):
        assert 'class="cookie-notice"' not in visitor(answer).get("/models/").text


def test_the_notice_says_no_analytics_when_there_is_none():
    page = visitor(None).get("/models/")
    assert "no\n      analytics or advertising cookies" in page.text
    assert "Accept analytics" not in page.text


@pytest.mark.parametrize("answer", ["accept", "refuse"])
def test_the_choice_is_a_plain_form_remembered_for_a_year(plausible, answer):
    client = visitor(None)
    response = client.post(CONSENT_URL, {"analytics": answer, "next": "/models/"})
    assert response.status_code == 302 and response["Location"] == "/models/"
    cookie = response.cookies[NOTICE_COOKIE]
    assert cookie.value == answer and cookie["max-age"] == 365 * 24 * 60 * 60
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert (LOADER in client.get("/models/").text) is (answer == "accept")


def test_the_choice_can_be_changed_later_on_the_cookies_page(plausible):
    client = visitor(None)
    assert "none yet (nothing is loaded)" in client.get("/legal/cookies/").text
    client.post(CONSENT_URL, {"analytics": "accept"})
    page = client.get("/legal/cookies/")
    assert "analytics accepted" in page.text and LOADER in page.text
    client.cookies["_ga"] = "GA1.1.1234"
    client.cookies["_pk_id.1.abcd"] = "x"
    response = client.post(CONSENT_URL, {"analytics": "refuse", "next": "/legal/cookies/"})
    assert response["Location"] == "/legal/cookies/"
    # The analytics script's own cookies are deleted with the refusal.
    assert response.cookies["_ga"]["max-age"] == 0
    assert response.cookies["_pk_id.1.abcd"]["max-age"] == 0
    page = client.get("/legal/cookies/")
    assert "analytics refused" in page.text and LOADER not in page.text
    assert policy_of(page) == unconfigured_policy()


@pytest.mark.parametrize(
    "posted",
    [
        {},
        {"analytics": ""},
        {"analytics": "yes"},
        {"analytics": "accept\x00"},
        {"analytics": "x" * 10_000},
        {"analytics": "ACCEPT"},
    ],
)
def test_a_bad_answer_is_a_clear_error_and_changes_nothing(plausible, posted):
    response = visitor(None).post(CONSENT_URL, posted)
    assert response.status_code == 302 and response["Location"] == "/legal/cookies/"
    assert NOTICE_COOKIE not in response.cookies
    page = visitor(None).post(CONSENT_URL, posted, follow=True)
    assert page.status_code == 200


@pytest.mark.parametrize(
    "hostile",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "x", "/a\nb", "javascript:1"],
)
def test_the_choice_goes_back_only_to_this_site(plausible, hostile):
    response = visitor(None).post(CONSENT_URL, {"analytics": "refuse", "next": hostile})
    assert response.status_code == 302 and response["Location"] == "/legal/cookies/"


def test_the_choice_needs_a_post_with_its_csrf_token(plausible):
    assert Client().get(CONSENT_URL).status_code == 405
    guarded = Client(enforce_csrf_checks=True)
    response = guarded.post(CONSENT_URL, {"analytics": "accept"})
    assert response.status_code == 403 and NOTICE_COOKIE not in response.cookies


def test_accepting_when_no_analytics_is_configured_sets_nothing():
    response = visitor(None).post(CONSENT_URL, {"analytics": "accept"}, follow=True)
    assert response.status_code == 200
    assert "nothing to accept" in response.text
    assert LOADER not in response.text


def test_the_cookie_list_names_the_configured_providers_cookies(settings):
    settings.PORTAL_ANALYTICS_PROVIDER = "google"
    settings.PORTAL_ANALYTICS_SITE_ID = "G-ABC123XYZ"
    settings.PORTAL_ANALYTICS_ORIGIN = ""
    page = visitor(None).get("/legal/cookies/")
    assert "<code>_ga</code>" in page.text and "<code>_ga_*</code>" in page.text
    settings.PORTAL_ANALYTICS_PROVIDER = "matomo"
    settings.PORTAL_ANALYTICS_SITE_ID = "3"
    settings.PORTAL_ANALYTICS_ORIGIN = ORIGIN
    page = visitor(None).get("/legal/cookies/")
    assert "<code>_pk_id.*</code>" in page.text and "<code>_ga</code>" not in page.text
    settings.PORTAL_ANALYTICS_PROVIDER = ""
    assert "_pk_id" not in visitor(None).get("/legal/cookies/").text


def test_google_without_an_origin_allows_googles_documented_hosts_only(settings):
    settings.PORTAL_ANALYTICS_PROVIDER = "google"
    settings.PORTAL_ANALYTICS_SITE_ID = "G-ABC123XYZ"
    settings.PORTAL_ANALYTICS_ORIGIN = ""
    policy, base = policy_of(visitor("accept").get("/")), unconfigured_policy()
    assert policy["script-src"] == [*base["script-src"], "https://*.googletagmanager.com"]
    assert "https://*.google-analytics.com" in policy["connect-src"]
    assert policy_of(visitor("refuse").get("/")) == base


@pytest.mark.parametrize(
    ("provider", "site_id", "origin"),
    [
        ("umami", "x", ""),
        ("plausible", "", ""),
        ("plausible", "bad site", ""),
        ("plausible", "portal.example.org", "ftp://stats.example.org"),
        ("plausible", "portal.example.org", "https://stats.example.org/path"),
        ("plausible", "portal.example.org", "https://user:pw@stats.example.org"),
        ("plausible", "portal.example.org", "http://stats.example.org"),
        ("matomo", "3", ""),
        ("matomo", "three", ORIGIN),
        ("google", "UA-1234-1", ""),
    ],
)
def test_a_configuration_the_portal_cannot_use_fails_the_check_and_loads_nothing(
    settings, provider, site_id, origin
):
    with pytest.raises(AnalyticsMisconfigured):
        read_site(provider, site_id, origin)
    settings.PORTAL_ANALYTICS_PROVIDER = provider
    settings.PORTAL_ANALYTICS_SITE_ID = site_id
    settings.PORTAL_ANALYTICS_ORIGIN = origin
    with pytest.raises(SystemCheckError, match="privacy.E001"):
        call_command("check")
    response = visitor("accept").get("/")
    assert response.status_code == 200 and LOADER not in response.text
    assert policy_of(response) == unconfigured_policy()


def test_a_usable_configuration_passes_the_check(plausible):
    call_command("check")
    site = read_site("Plausible", " portal.example.org ", "https://Stats.Example.org/")
    assert (site.provider, site.site_id, site.origin) == ("plausible", "portal.example.org", ORIGIN)
    assert read_site("plausible", "portal.example.org", "").origin == "https://plausible.io"
    assert read_site("matomo", "3", "http://127.0.0.1:8080").origin == "http://127.0.0.1:8080"
    assert read_site("", "", "") is None
