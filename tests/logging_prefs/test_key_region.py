"""A key's own "Keep this key's requests in <region>" on /account/keys/<id>/ (one of its
provider rules, posted with the others to .../rules/): ticked it is stricter than the
account, unticked it follows the account (never wider); each change is audited like the
key's logging setting."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import PreferenceChange
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

PRIVACY_URL = "/account/privacy/"


def region_url(api_key: ApiKey) -> str:
    return f"/account/keys/{api_key.pk}/rules/"


def page_of(api_key: ApiKey) -> str:
    return f"/account/keys/{api_key.pk}/"


def region_errors(response) -> list[str]:
    form = response.context["rules_form"]
    return [str(error) for errors in form.errors.values() for error in errors]


def test_the_key_page_offers_the_region_named_from_the_settings(user_client, user, settings):
    settings.PORTAL_DATA_REGION = "eu"
    api_key = ApiKeyFactory(user=user)
    page = user_client.get(page_of(api_key)).content.decode()
    assert "Keep this key&#x27;s requests in the European Union" in page
    assert f'action="{region_url(api_key)}"' in page
    assert 'name="in_region_only"' in page
    assert "never send them further" in page


def test_ticking_it_makes_the_key_stricter_and_is_audited(user_client, user, settings):
    settings.PORTAL_DATA_REGION = "eu"
    do_set_logging_preferences(user=user, acting_user=user, changes={"in_region_only": False})
    PreferenceChange.objects.all().delete()
    api_key = ApiKeyFactory(user=user, name="Strict")

    response = user_client.post(region_url(api_key), {"in_region_only": "on"}, follow=True)

    assert response.redirect_chain[-1][0] == page_of(api_key)
    assert (
        "“Strict”: Keep this key&#x27;s requests in the European Union is now on."
        in response.content.decode()
    )
    api_key.refresh_from_db()
    assert api_key.in_region_only is True
    change = PreferenceChange.objects.get(user=user)
    assert (
        change.api_key_id,
        change.setting,
        change.old_value,
        change.new_value,
        change.actor_is_user,
    ) == (api_key.pk, "key_in_region_only", "off", "on", True)
    # The same value again records nothing more.
    user_client.post(region_url(api_key), {"in_region_only": "on"})
    assert PreferenceChange.objects.filter(user=user).count() == 1
    history = user_client.get(PRIVACY_URL).content.decode()
    assert "Keep this key&#x27;s requests in the European Union" in history
    assert f"Strict ({api_key.prefix}…)" in history


def test_unticking_it_returns_the_key_to_its_account(user_client, user):
    api_key = ApiKeyFactory(user=user, in_region_only=True)
    # An unticked checkbox sends nothing: an empty POST still binds and is validated.
    response = user_client.post(region_url(api_key), {})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.in_region_only is False
    change = PreferenceChange.objects.get(user=user, setting="key_in_region_only")
    assert (change.old_value, change.new_value) == ("on", "off")


@pytest.mark.parametrize("value", ["maybe", "yes please", "2", "x" * 500])
def test_a_forged_value_is_a_form_error_and_changes_nothing(user_client, user, value):
    api_key = ApiKeyFactory(user=user)
    response = user_client.post(region_url(api_key), {"in_region_only": value})
    assert response.status_code == 200
    assert region_errors(response)
    api_key.refresh_from_db()
    assert api_key.in_region_only is False
    assert not PreferenceChange.objects.exists()


def test_a_revoked_key_cannot_be_changed(user_client, user):
    api_key = ApiKeyFactory(user=user)
    user_client.post(f"/account/keys/{api_key.pk}/revoke/", {"confirm": "on"})
    response = user_client.post(region_url(api_key), {"in_region_only": "on"})
    assert response.status_code == 200
    assert "This key is revoked; it can no longer be changed." in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.in_region_only is False
    assert not PreferenceChange.objects.exists()


def test_another_users_key_is_not_found(user_client):
    theirs = ApiKeyFactory(user=UserFactory())
    assert user_client.post(region_url(theirs), {"in_region_only": "on"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.in_region_only is False
    assert not PreferenceChange.objects.exists()


def test_only_by_post_and_csrf_protected(user_client, user):
    api_key = ApiKeyFactory(user=user)
    assert user_client.get(region_url(api_key)).status_code == 405
    client = signed_in(Client(enforce_csrf_checks=True), user)
    assert client.post(region_url(api_key), {"in_region_only": "on"}).status_code == 403
    api_key.refresh_from_db()
    assert api_key.in_region_only is False


def test_sign_in_is_required(client, user):
    api_key = ApiKeyFactory(user=user)
    response = client.post(region_url(api_key), {"in_region_only": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    api_key.refresh_from_db()
    assert api_key.in_region_only is False
