"""Who we share with: /legal/service-providers/ lists each service provider (name, what
for, which data, where) as administrators keep it in the admin, seeded with what a
deployment of this portal uses; an analytics service appears only while it is
configured. Support staff may read the list in the admin; only superusers change it."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from privacy.models import ServiceProvider
from tests.helpers.admin import (
    admin_client,
    make_superuser,
    make_support_member,
    seed_service_providers,
)

pytestmark = pytest.mark.django_db

URL = "/legal/service-providers/"
ANALYTICS_ROWS = {
    "plausible": "Plausible Analytics (Plausible Insights OÜ)",
    "matomo": "Matomo (run by the operator)",
    "google": "Google Analytics (Google LLC, Google Ireland Limited)",
}
ALWAYS = ("Hosting provider", "Email delivery", "AI model providers")


@pytest.fixture(autouse=True)
def seeded():
    seed_service_providers()


def page_text() -> str:
    response = Client().get(URL)
    assert response.status_code == 200
    return html.unescape(response.text)


def test_the_seeded_list_names_what_each_provider_does_receives_and_where():
    text = page_text()
    for name in ALWAYS:
        assert name in text
    for row in ServiceProvider.objects.filter(analytics=""):
        for value in (row.name, row.purpose, row.data_received, row.location):
            assert value in text
    # The policy's examples, answered truthfully.
    assert "This portal does not use Clerk" in text
    assert "This site runs no analytics service" in text


def test_with_analytics_off_no_analytics_service_is_listed():
    text = page_text()
    for name in ANALYTICS_ROWS.values():
        assert name not in text


@pytest.mark.parametrize("provider", sorted(ANALYTICS_ROWS))
def test_the_configured_analytics_service_and_only_it_is_listed(settings, provider):
    settings.PORTAL_ANALYTICS_PROVIDER = provider
    settings.PORTAL_ANALYTICS_SITE_ID = {"plausible": "portal.example", "matomo": "1"}.get(
        provider, "G-ABCDEF12"
    )
    settings.PORTAL_ANALYTICS_ORIGIN = "https://stats.example.org" if provider == "matomo" else ""
    text = page_text()
    for other, name in ANALYTICS_ROWS.items():
        assert (name in text) is (other == provider), name
    assert "only for visitors who accept it" in text


def test_google_analytics_says_the_data_leaves_the_country():
    google = ServiceProvider.objects.get(analytics="google")
    assert "United States" in google.location


def test_an_administrator_adds_and_changes_a_provider_and_the_page_shows_it():
    client = admin_client(make_superuser())
    response = client.post(
        "/admin/privacy/serviceprovider/add/",
        {
            "name": "Mailgun Technologies, Inc.",
            "purpose": "Delivers the portal's mail.",
            "data_received": "Your email address and each mail's text.",
            "location": "The European Union (Germany)",
            "analytics": "",
            "position": "25",
        },
    )
    assert response.status_code == 302, response.content
    assert "Mailgun Technologies, Inc." in page_text()
    row = ServiceProvider.objects.get(name="Mailgun Technologies, Inc.")
    response = client.post(f"/admin/privacy/serviceprovider/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert "Mailgun" not in page_text()


def test_support_staff_read_the_list_but_cannot_change_it():
    client = admin_client(make_support_member())
    row = ServiceProvider.objects.first()
    assert client.get("/admin/privacy/serviceprovider/").status_code == 200
    change = client.get(f"/admin/privacy/serviceprovider/{row.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.text
    assert client.get("/admin/privacy/serviceprovider/add/").status_code == 403
    response = client.post(
        f"/admin/privacy/serviceprovider/{row.pk}/change/",
        {"name": "Changed", "purpose": "x", "data_received": "x", "location": "x", "position": 1},
    )
    assert response.status_code == 403
    assert (
        client.post(f"/admin/privacy/serviceprovider/{row.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    row.refresh_from_db()
    assert row.name != "Changed"


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "x" * 121),
        ("analytics", "umami"),
        ("position", "-1"),
        ("position", "x"),
    ],
)
def test_bad_input_in_the_admin_is_a_form_error_never_a_500(field, value):
    client = admin_client(make_superuser())
    data = {
        "name": "A provider",
        "purpose": "x",
        "data_received": "x",
        "location": "x",
        "analytics": "",
        "position": "1",
        field: value,
    }
    response = client.post("/admin/privacy/serviceprovider/add/", data)
    assert response.status_code == 200 and "errornote" in response.text
    assert not ServiceProvider.objects.filter(name="A provider").exists()
