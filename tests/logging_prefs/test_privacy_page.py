"""/account/privacy/: the prompt-logging toggle, provider data policies, audit history."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import ApiKey
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from logging_prefs.models import LoggingPreference, PreferenceChange
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.catalog import EndpointFactory, LanguageModelFactory
from tests.factories.logging_prefs import make_history
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

PRIVACY_URL = "/account/privacy/"
ALL_ON = {name: "on" for name in LoggingPreference.FIELDS}


def preference_of(user) -> LoggingPreference:
    return LoggingPreference.objects.get(user=user)


def input_tag(html: str, element_id: str) -> str:
    match = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', html)
    assert match, element_id
    return match.group(0)


def form_errors(response) -> list[str]:
    return [str(e) for errors in response.context["form"].errors.values() for e in errors]


def test_privacy_page_requires_sign_in(client, user):
    response = client.get(PRIVACY_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    client.post(PRIVACY_URL, {})
    assert preference_of(user).log_prompts is True


def test_privacy_page_is_the_account_hubs_privacy_section(user_client):
    assert reverse("account_privacy") == PRIVACY_URL
    hub = user_client.get("/account/").content.decode()
    assert f'href="{PRIVACY_URL}"' in hub


def test_privacy_page_explains_what_is_stored_why_how_long_and_how_to_delete(user_client, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 17
    html = " ".join(user_client.get(PRIVACY_URL).content.decode().split())

    assert "Store my prompts and completions" in html
    assert "the prompt you send and the completion the model sends back" in html
    assert "programming, writing or translation" in html
    assert "no user, no key and no text" in html
    assert "17 days" in html
    assert "the model, the provider, the app’s URL, the number of tokens" in html
    assert "billing" in html
    try:
        data_url = reverse("account_data")
    except NoReverseMatch:
        assert "Ask support to delete" in html
    else:
        assert f'href="{data_url}"' in html
    for label in (
        "Allow paid endpoints that may train on prompts",
        "Allow free endpoints that may train on prompts",
        "Allow endpoints that retain prompts",
        "Allow free endpoints that may publish prompts",
        "Zero-data-retention endpoints only",
    ):
        assert label in html


def test_privacy_page_shows_the_current_settings_ticked(user_client, user):
    do_set_logging_preferences(
        user=user, acting_user=user, changes={"log_prompts": False, "allow_training_free": True}
    )
    form = user_client.get(PRIVACY_URL).context["form"]
    assert form["log_prompts"].value() is False
    assert form["allow_training_free"].value() is True
    html = user_client.get(PRIVACY_URL).content.decode()
    assert " checked" in input_tag(html, "id_allow_training_free")
    assert " checked" not in input_tag(html, "id_log_prompts")
    assert " checked" in input_tag(html, "id_allow_retention")


def test_privacy_toggle_is_saved_with_audit_history(user_client, user):
    assert preference_of(user).log_prompts is True
    data = {name: "on" for name in LoggingPreference.FIELDS if name != "log_prompts"}
    data.update(allow_training_paid="", allow_training_free="", allow_publication="")
    data.pop("zdr_only")

    response = user_client.post(PRIVACY_URL, data)

    assert response.status_code == 302
    assert response["Location"] == PRIVACY_URL
    preference = preference_of(user)
    assert preference.log_prompts is False
    assert preference.allow_retention is True
    change = PreferenceChange.objects.get(user=user)
    assert (change.setting, change.old_value, change.new_value, change.actor_is_user) == (
        "log_prompts",
        "on",
        "off",
        True,
    )
    page = user_client.get(PRIVACY_URL).content.decode()
    assert "Your privacy choices have been saved." in page
    assert "Store my prompts and completions</td>" in page
    assert "On → Off" in page
    assert "<td>You</td>" in page


def test_every_provider_policy_choice_is_saved(user_client, user):
    response = user_client.post(PRIVACY_URL, ALL_ON)
    assert response.status_code == 302
    preference = preference_of(user)
    assert all(getattr(preference, name) for name in LoggingPreference.FIELDS)

    # An unticked box is not sent at all: everything off.
    response = user_client.post(PRIVACY_URL, {})
    assert response.status_code == 302
    preference = preference_of(user)
    assert not any(getattr(preference, name) for name in LoggingPreference.FIELDS)
    settings_changed = set(
        PreferenceChange.objects.filter(user=user).values_list("setting", flat=True)
    )
    assert settings_changed == set(LoggingPreference.FIELDS)


def test_submitting_the_same_choices_again_records_no_history(user_client, user):
    user_client.post(PRIVACY_URL, {"log_prompts": "on"})
    count = PreferenceChange.objects.filter(user=user).count()
    response = user_client.post(PRIVACY_URL, {"log_prompts": "on"}, follow=True)
    assert "Nothing changed" in response.content.decode()
    assert PreferenceChange.objects.filter(user=user).count() == count


@pytest.mark.parametrize(
    "data",
    [
        {"log_prompts": "banana"},
        {"log_prompts": "yes please"},
        {"zdr_only": "2"},
        {"allow_retention": ["on", "off"]},
        {"log_prompts": "x" * 10_000},
    ],
)
def test_forged_checkbox_values_are_form_errors_and_change_nothing(user_client, user, data):
    before = preference_of(user)
    response = user_client.post(PRIVACY_URL, data)
    assert response.status_code == 200
    assert form_errors(response)
    after = preference_of(user)
    assert all(getattr(after, n) == getattr(before, n) for n in LoggingPreference.FIELDS)
    assert not PreferenceChange.objects.filter(user=user).exists()


def test_unknown_fields_are_ignored_and_cannot_reach_the_action(user_client, user):
    response = user_client.post(PRIVACY_URL, {**ALL_ON, "user": "1", "updated_at": "x"})
    assert response.status_code == 302
    assert set(PreferenceChange.objects.filter(user=user).values_list("setting", flat=True)) <= set(
        LoggingPreference.FIELDS
    )


def test_privacy_form_is_csrf_protected(user):
    client = signed_in(Client(enforce_csrf_checks=True), user)
    assert client.post(PRIVACY_URL, {}).status_code == 403
    assert preference_of(user).log_prompts is True


def test_history_says_who_changed_what_and_names_the_key(user_client, user):
    support = UserFactory(is_staff=True)
    api_key = ApiKeyFactory(user=user, name="Nightly batch")
    do_set_logging_preferences(user=user, acting_user=support, changes={"zdr_only": True})
    do_set_api_key_logging(api_key=api_key, acting_user=user, logging=ApiKey.Logging.NEVER)

    html = user_client.get(PRIVACY_URL).content.decode()

    assert "Zero-data-retention endpoints only</td>" in html
    assert "Off → On" in html
    assert "<td>Support</td>" in html
    assert "Nightly batch" in html
    assert "As my account → Never log" in html
    assert "<td>You</td>" in html
    # Newest first: the key change was made after support's change.
    assert html.index("Nightly batch") < html.index("Zero-data-retention endpoints only</td>")


def test_history_is_limited_with_a_count(user_client, user):
    make_history(user, 60)
    response = user_client.get(PRIVACY_URL)
    assert len(response.context["history"]) == 50
    assert "The latest 50 of 60 changes" in response.content.decode()


def test_user_does_not_see_another_users_history(user_client):
    other = UserFactory()
    other_key = ApiKeyFactory(user=other, name="Their secret project")
    do_set_api_key_logging(api_key=other_key, acting_user=other, logging="never")
    html = user_client.get(PRIVACY_URL).content.decode()
    assert "Their secret project" not in html
    assert "No changes yet" in html


@pytest.mark.parametrize("rows", [5, 300])
def test_privacy_page_query_count_is_bounded_whatever_the_data_size(
    user_client, user, rows, django_assert_max_num_queries
):
    api_key = ApiKeyFactory(user=user, name="Key with history")
    make_history(user, rows, api_key=api_key)
    user_client.get(PRIVACY_URL)  # warm the session cache

    # The bound is the same for 5 and 300 rows; the sign-in and session machinery
    # (allauth's user sessions) account for most of it.
    with django_assert_max_num_queries(10) as captured:
        response = user_client.get(PRIVACY_URL)

    assert response.status_code == 200
    assert response.content.decode().count("Key with history") == min(rows, 50) // 2 + (
        min(rows, 50) % 2
    )
    # Nothing per row: the preference, the history with its keys' names, and its count.
    ours = [q["sql"] for q in captured.captured_queries if "logging_prefs_" in q["sql"]]
    assert len(ours) <= 3, ours
    assert sum("accounts_apikey" in q["sql"] for q in captured.captured_queries) <= 1


# --- What each choice opens or closes (catalog/privacy_price.py) ----------------------


def _catalog(models: int) -> None:
    for _ in range(models):
        model = LanguageModelFactory()
        EndpointFactory(model=model)
        EndpointFactory(model=model, trains_on_prompts=True, input_price=Decimal("0.5"))


def test_privacy_page_says_what_each_choice_opens_or_closes(user_client, user):
    _catalog(2)
    EndpointFactory(model=LanguageModelFactory(), retains_prompts=True)
    html = user_client.get(PRIVACY_URL).content.decode()
    assert "What each choice opens or closes" in html
    assert (
        "Allowing paid endpoints that may train on prompts would open 2 endpoints, and make "
        "2 models cheaper."
    ) in html
    assert (
        "Refusing endpoints that retain prompts would close 1 endpoint (leaving 1 model "
        "with no endpoint you can use)."
    ) in html
    assert "Allowing free endpoints that may train on prompts would change nothing" in html
    # From the saved choices: once paid training is allowed, the row says what refusing it
    # would close.
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})
    html = user_client.get(PRIVACY_URL).content.decode()
    assert (
        "Refusing paid endpoints that may train on prompts would close 2 endpoints, and make "
        "2 models dearer."
    ) in html


@pytest.mark.parametrize("models", [3, 40])
def test_privacy_page_reads_the_catalog_in_one_query_whatever_its_size(
    user_client, models, django_assert_max_num_queries
):
    _catalog(models)
    user_client.get(PRIVACY_URL)  # warm the session cache
    with django_assert_max_num_queries(11) as captured:
        response = user_client.get(PRIVACY_URL)
    assert response.status_code == 200
    catalog = [q["sql"] for q in captured.captured_queries if "catalog_" in q["sql"]]
    assert len(catalog) == 1, catalog
    assert f"would open {models} endpoints" in response.content.decode()
