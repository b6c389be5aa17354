"""/account/keys/: list, create (raw key shown once), rename, key logging, revoke."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, hash_api_key
from logging_prefs.models import PreferenceChange
from logging_prefs.views import NEW_KEY_SESSION_KEY
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import ingest
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

KEYS_URL = "/account/keys/"
RAW_KEY = re.compile(r"sk-pt-[A-Za-z0-9_-]{40,}")


def key_url(api_key: ApiKey | int, action: str = "") -> str:
    key_id = api_key if isinstance(api_key, int) else api_key.pk
    return f"{KEYS_URL}{key_id}/" + (f"{action}/" if action else "")


def errors_of(response) -> list[str]:
    return [
        str(error)
        for name in ("form", "rename_form", "logging_form")
        if response.context and name in response.context
        for errors in response.context[name].errors.values()
        for error in errors
    ]


def test_keys_pages_require_sign_in(client, user):
    api_key = ApiKeyFactory(user=user)
    for url in (KEYS_URL, key_url(api_key), key_url(api_key, "revoke")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    response = client.post(KEYS_URL, {"name": "sneaky", "logging": "account"})
    assert response.status_code == 302
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_raw_key_is_shown_once_and_stored_only_as_hash(user_client, user):
    response = user_client.post(KEYS_URL, {"name": "  Laptop   script ", "logging": "account"})

    assert response.status_code == 302
    assert response["Location"] == KEYS_URL
    api_key = ApiKey.objects.get(user=user)
    assert api_key.name == "Laptop script"
    # Neither the redirect nor the flash message carries the key.
    assert not RAW_KEY.search(response["Location"])
    assert all(not RAW_KEY.search(str(m)) for m in get_messages(response.wsgi_request))

    first = user_client.get(KEYS_URL)
    assert first["Cache-Control"].count("no-store") == 1
    html = first.content.decode()
    raw_keys = set(RAW_KEY.findall(html))
    assert len(raw_keys) == 1
    raw_key = raw_keys.pop()
    assert "only time it is shown" in html
    assert api_key.hashed_key == hash_api_key(raw_key)
    assert raw_key.startswith(api_key.prefix)
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert all(raw_key not in str(value) for value in stored.values())
    assert NEW_KEY_SESSION_KEY not in user_client.session

    second = user_client.get(KEYS_URL)
    assert not RAW_KEY.search(second.content.decode())
    assert f"{api_key.prefix}…" in second.content.decode()


def test_keys_page_lists_name_prefix_logging_last_use_and_revoked_state(user_client, user):
    used = ApiKeyFactory(user=user, name="Used key")
    never_used = ApiKeyFactory(user=user, name="Idle key", logging=ApiKey.Logging.NEVER)
    revoked = ApiKeyFactory(user=user, name="Old key")
    ingest(used, 1, newest=timezone.now() - dt.timedelta(hours=3))
    revoked.revoked_at = timezone.now()
    revoked.save(update_fields=["revoked_at"])

    html = user_client.get(KEYS_URL).content.decode()

    for api_key in (used, never_used, revoked):
        assert api_key.name in html
        assert f"{api_key.prefix}…" in html
    assert "3\xa0hours ago" in html or "3 hours ago" in html
    assert ">never<" in html
    assert "Never log" in html and "As my account" in html
    assert "Revoked" in html
    assert html.count("is-revoked") == 1


def test_user_sees_only_their_own_keys(user_client, user):
    ApiKeyFactory(user=user, name="Mine")
    ApiKeyFactory(user=UserFactory(), name="Somebody else's")
    html = user_client.get(KEYS_URL).content.decode()
    assert "Mine" in html
    assert "Somebody else" not in html


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "Enter a name for the key."),
        ("    ", "Enter a name for the key."),
        ("x" * (ApiKey.NAME_MAX_LENGTH + 1), "at most 100 characters"),
        ("bad\x07name", "control characters"),
        ("nul\x00name", "Null characters are not allowed."),
    ],
)
def test_create_key_with_a_bad_name_is_a_form_error_and_creates_nothing(
    user_client, user, name, expected
):
    response = user_client.post(KEYS_URL, {"name": name, "logging": "account"})
    assert response.status_code == 200
    assert any(expected in error for error in errors_of(response)), errors_of(response)
    assert not ApiKey.objects.filter(user=user).exists()
    assert not RAW_KEY.search(response.content.decode())


def test_create_key_with_an_unknown_logging_choice_is_a_form_error(user_client, user):
    response = user_client.post(KEYS_URL, {"name": "Key", "logging": "always"})
    assert response.status_code == 200
    assert "Choose “As my account” or “Never log”." in errors_of(response)
    assert not ApiKey.objects.filter(user=user).exists()


def test_submitting_the_create_form_twice_creates_one_key(user_client, user):
    assert user_client.post(KEYS_URL, {"name": "CI", "logging": "never"}).status_code == 302
    again = user_client.post(KEYS_URL, {"name": "ci", "logging": "never"})
    assert again.status_code == 200
    assert any("already have an active key with this name" in e for e in errors_of(again))
    assert ApiKey.objects.filter(user=user).count() == 1
    assert ApiKey.objects.get(user=user).logging == ApiKey.Logging.NEVER


def test_a_revoked_keys_name_can_be_reused(user_client, user):
    old = ApiKeyFactory(user=user, name="Bot")
    user_client.post(key_url(old, "revoke"), {"confirm": "on"})
    assert user_client.post(KEYS_URL, {"name": "Bot", "logging": "account"}).status_code == 302
    assert ApiKey.objects.filter(user=user, name="Bot").count() == 2


def test_user_can_rename_their_key(user_client, user):
    api_key = ApiKeyFactory(user=user, name="Before")
    response = user_client.post(key_url(api_key, "rename"), {"name": "After"})
    assert response.status_code == 302
    assert response["Location"] == key_url(api_key)
    api_key.refresh_from_db()
    assert api_key.name == "After"
    assert "After" in user_client.get(KEYS_URL).content.decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "Enter a name for the key."),
        ("y" * 101, "at most 100 characters"),
        ("Taken", "already have an active key with this name"),
    ],
)
def test_rename_with_a_bad_name_is_a_form_error_and_changes_nothing(
    user_client, user, name, expected
):
    ApiKeyFactory(user=user, name="Taken")
    api_key = ApiKeyFactory(user=user, name="Mine")
    response = user_client.post(key_url(api_key, "rename"), {"name": name})
    assert response.status_code == 200
    assert any(expected in error for error in errors_of(response)), errors_of(response)
    api_key.refresh_from_db()
    assert api_key.name == "Mine"


def test_key_can_be_made_stricter_than_the_account_and_is_audited(user_client, user):
    api_key = ApiKeyFactory(user=user)
    page = user_client.get(key_url(api_key)).content.decode()
    assert "stricter than your account, never looser" in page

    response = user_client.post(key_url(api_key, "logging"), {"logging": "never"})

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.logging == ApiKey.Logging.NEVER
    change = PreferenceChange.objects.get(user=user)
    assert (change.api_key_id, change.setting, change.old_value, change.new_value) == (
        api_key.pk,
        "key_logging",
        "account",
        "never",
    )
    # Sending the same value again records nothing more.
    user_client.post(key_url(api_key, "logging"), {"logging": "never"})
    assert PreferenceChange.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("value", ["always", "", "ACCOUNT", "x" * 500])
def test_unknown_key_logging_value_is_a_form_error_and_changes_nothing(user_client, user, value):
    api_key = ApiKeyFactory(user=user, logging=ApiKey.Logging.NEVER)
    response = user_client.post(key_url(api_key, "logging"), {"logging": value})
    assert response.status_code == 200
    assert errors_of(response)
    api_key.refresh_from_db()
    assert api_key.logging == ApiKey.Logging.NEVER
    assert not PreferenceChange.objects.exists()


def test_revoking_needs_confirmation(user_client, user):
    api_key = ApiKeyFactory(user=user, name="Prod")
    confirm_page = user_client.get(key_url(api_key, "revoke"))
    assert confirm_page.status_code == 200
    assert "cannot be restored" in confirm_page.content.decode()

    unconfirmed = user_client.post(key_url(api_key, "revoke"), {})
    assert unconfirmed.status_code == 200
    assert "Tick the box to confirm that you want to revoke the key." in errors_of(unconfirmed)
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_revoked_key_stays_listed_as_revoked_and_revoking_twice_changes_nothing(user_client, user):
    api_key = ApiKeyFactory(user=user, name="Prod")
    response = user_client.post(key_url(api_key, "revoke"), {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == KEYS_URL
    api_key.refresh_from_db()
    revoked_at = api_key.revoked_at
    assert revoked_at is not None

    listing = user_client.get(KEYS_URL).content.decode()
    assert "Prod" in listing and "Revoked" in listing

    again = user_client.post(key_url(api_key, "revoke"), {"confirm": "on"}, follow=True)
    assert "was already revoked" in again.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at == revoked_at


def test_revoked_key_cannot_be_renamed_or_have_its_logging_changed(user_client, user):
    api_key = ApiKeyFactory(user=user, name="Gone")
    user_client.post(key_url(api_key, "revoke"), {"confirm": "on"})

    rename = user_client.post(key_url(api_key, "rename"), {"name": "Back"})
    logging = user_client.post(key_url(api_key, "logging"), {"logging": "never"})

    for response in (rename, logging):
        assert response.status_code == 200
        assert "This key is revoked; it can no longer be changed." in response.content.decode()
    api_key.refresh_from_db()
    assert (api_key.name, api_key.logging) == ("Gone", ApiKey.Logging.AS_ACCOUNT)
    assert not PreferenceChange.objects.exists()


def test_user_cannot_revoke_another_users_key(user_client):
    other_key = ApiKeyFactory(user=UserFactory(), name="Theirs")
    assert user_client.get(key_url(other_key, "revoke")).status_code == 404
    assert user_client.post(key_url(other_key, "revoke"), {"confirm": "on"}).status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_user_cannot_see_rename_or_change_another_users_key(user_client):
    other_key = ApiKeyFactory(user=UserFactory(), name="Theirs")
    assert user_client.get(key_url(other_key)).status_code == 404
    assert user_client.post(key_url(other_key, "rename"), {"name": "Mine"}).status_code == 404
    response = user_client.post(key_url(other_key, "logging"), {"logging": "never"})
    assert response.status_code == 404
    other_key.refresh_from_db()
    assert (other_key.name, other_key.logging) == ("Theirs", ApiKey.Logging.AS_ACCOUNT)
    assert not PreferenceChange.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/account/keys/abc/",
        "/account/keys/-1/revoke/",
        "/account/keys/1.5/rename/",
        "/account/keys/0/",
        "/account/keys/99999999999999999999999/",
        "/account/keys/99999999999999999999999/revoke/",
    ],
)
def test_forged_key_ids_are_not_found(user_client, user, path):
    ApiKeyFactory(user=user)
    assert user_client.get(path).status_code == 404
    assert user_client.post(path, {"confirm": "on", "name": "x"}).status_code in (404, 405)
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_key_changes_only_by_post(user_client, user):
    api_key = ApiKeyFactory(user=user)
    assert user_client.get(key_url(api_key, "rename")).status_code == 405
    assert user_client.get(key_url(api_key, "logging")).status_code == 405


def test_key_forms_are_csrf_protected(user):
    api_key = ApiKeyFactory(user=user, name="Safe")
    client = signed_in(Client(enforce_csrf_checks=True), user)
    assert client.post(KEYS_URL, {"name": "New", "logging": "account"}).status_code == 403
    assert client.post(key_url(api_key, "rename"), {"name": "Hijacked"}).status_code == 403
    assert client.post(key_url(api_key, "revoke"), {"confirm": "on"}).status_code == 403
    api_key.refresh_from_db()
    assert (api_key.name, api_key.revoked_at) == ("Safe", None)
    assert ApiKey.objects.filter(user=user).count() == 1
