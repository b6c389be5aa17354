"""/account/privacy/: "Keep my requests in <region>", on by default for the policy's
"We do not transfer your personal data internationally", saved with audit history
like the other choices; a forged value is a form error."""

from __future__ import annotations

import pytest

from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import LoggingPreference, PreferenceChange
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

PRIVACY_URL = "/account/privacy/"


def preference_of(user) -> LoggingPreference:
    return LoggingPreference.objects.get(user=user)


def current_choices(user, **overrides) -> dict:
    """The form as the user's browser would send it: ticked boxes only."""
    values = {name: getattr(preference_of(user), name) for name in LoggingPreference.FIELDS}
    values.update(overrides)
    return {name: "on" for name, ticked in values.items() if ticked}


def test_a_new_account_keeps_its_requests_in_the_region():
    assert preference_of(UserFactory()).in_region_only is True


def test_the_choice_names_the_region_is_ticked_and_links_to_where_data_lives(user_client, settings):
    settings.PORTAL_DATA_REGION = "eu"
    response = user_client.get(PRIVACY_URL)
    html = " ".join(response.content.decode().split())
    assert "Keep my requests in the European Union" in html
    assert response.context["form"]["in_region_only"].value() is True
    assert 'name="in_region_only" id="id_in_region_only" value="on"' in html
    assert "On, your requests stay in the European Union" in html
    assert 'href="/legal/data-location/"' in html
    settings.PORTAL_DATA_REGION = "us"
    assert "Keep my requests in the United States" in user_client.get(PRIVACY_URL).text


def test_turning_it_off_is_saved_with_audit_history_and_shown(user_client, user, settings):
    settings.PORTAL_DATA_REGION = "eu"
    response = user_client.post(PRIVACY_URL, current_choices(user, in_region_only=False))
    assert response.status_code == 302
    assert preference_of(user).in_region_only is False
    change = PreferenceChange.objects.get(user=user)
    assert (change.setting, change.old_value, change.new_value, change.actor_is_user) == (
        "in_region_only",
        "on",
        "off",
        True,
    )
    html = " ".join(user_client.get(PRIVACY_URL).content.decode().split())
    assert "Keep my requests in the European Union</td>" in html
    assert "On → Off" in html
    assert "Off, your requests may go to endpoints outside the European Union" in html
    # And back on: a second audited change.
    user_client.post(PRIVACY_URL, current_choices(user, in_region_only=True))
    assert preference_of(user).in_region_only is True
    assert PreferenceChange.objects.filter(user=user, setting="in_region_only").count() == 2


def test_support_changing_it_is_audited_as_support(user):
    staff = UserFactory(is_staff=True)
    do_set_logging_preferences(user=user, acting_user=staff, changes={"in_region_only": False})
    change = PreferenceChange.objects.get(user=user)
    assert change.setting == "in_region_only" and change.actor_is_user is False


@pytest.mark.parametrize("value", ["banana", "2", ["on", "off"], "x" * 10_000, "on\x00"], ids=repr)
def test_a_forged_value_is_a_form_error_and_changes_nothing(user_client, user, value):
    data = current_choices(user) | {"in_region_only": value}
    response = user_client.post(PRIVACY_URL, data)
    assert response.status_code == 200
    assert response.context["form"].errors["in_region_only"]
    assert 'aria-invalid="true"' in response.text
    assert preference_of(user).in_region_only is True
    assert not PreferenceChange.objects.exists()
