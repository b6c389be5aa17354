"""Staff keep the catalog in the Django admin; a bad entry gets a form error, not a 500,
and nothing is saved."""

from __future__ import annotations

import pytest

from catalog.models import Endpoint
from tests.factories.accounts import UserFactory
from tests.factories.catalog import LanguageModelFactory, ProviderFactory
from tests.mfa import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    return staff_client(UserFactory(is_staff=True, is_superuser=True))


def endpoint_form(model, provider, **overrides) -> dict:
    return {
        "model": model.pk,
        "provider": provider.pk,
        "input_price": "1.50",
        "output_price": "3",
        "retention_days": "",
        **overrides,
    }


def test_staff_add_an_endpoint_and_the_model_page_shows_it(admin_client):
    model = LanguageModelFactory(author="acme", slug="one")
    provider = ProviderFactory(name="Keeper")
    for path in (
        "/admin/catalog/",
        "/admin/catalog/endpoint/",
        "/admin/catalog/endpoint/add/",
        f"/admin/catalog/languagemodel/{model.pk}/change/",
        "/admin/catalog/provider/add/",
    ):
        assert admin_client.get(path).status_code == 200, path
    form = endpoint_form(model, provider, retains_prompts="on", retention_days="14")
    response = admin_client.post("/admin/catalog/endpoint/add/", form)
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.retention_days == 14
    assert "Keeps prompts for 14 days." in admin_client.get("/models/acme/one/").content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_price": "-1"}, "Ensure this value is greater than or equal to 0"),
        ({"output_price": "lots"}, "Enter a number."),
        ({"retention_days": "30"}, "Only an endpoint that retains prompts has a retention period."),
        ({"retention_days": "-5", "retains_prompts": "on"}, "greater than or equal to 0"),
    ],
    ids=["negative price", "not a number", "retention without retaining", "negative days"],
)
def test_a_bad_endpoint_gets_a_form_error_and_nothing_is_saved(admin_client, overrides, message):
    form = endpoint_form(LanguageModelFactory(), ProviderFactory(), **overrides)
    response = admin_client.post("/admin/catalog/endpoint/add/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Endpoint.objects.exists()


def test_a_second_endpoint_for_the_same_model_and_provider_is_refused(admin_client):
    model, provider = LanguageModelFactory(), ProviderFactory()
    assert (
        admin_client.post(
            "/admin/catalog/endpoint/add/", endpoint_form(model, provider)
        ).status_code
        == 302
    )
    response = admin_client.post("/admin/catalog/endpoint/add/", endpoint_form(model, provider))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Endpoint.objects.count() == 1


def test_a_model_slug_with_a_slash_is_refused(admin_client):
    response = admin_client.post(
        "/admin/catalog/languagemodel/add/",
        {
            "author": "acme",
            "slug": "a/b",
            "name": "A",
            "description": "",
            "endpoints-TOTAL_FORMS": "0",
            "endpoints-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "cannot contain a slash" in response.content.decode()
