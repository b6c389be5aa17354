""" "Download your data" on /account/data/: one JSON file with every row the personal-data
registry lists for the person, secrets and other people's data left out (privacy/export.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import Generation
from privacy import export, registry
from privacy.models import AuditEvent
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.accounts import age_reauthentication
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import (
    DATA_URL,
    asks_for_reauthentication,
    exported,
    sign_in,
    signed_in_and_reauthenticated,
)

pytestmark = pytest.mark.django_db

DOWNLOAD_URL = "/account/data/download/"


def download(client: Client) -> tuple[object, bytes]:
    response = client.get(DOWNLOAD_URL)
    assert response.status_code == 200, response
    return response, b"".join(response.streaming_content)


def test_a_user_downloads_every_registered_record_about_them_and_nothing_of_anyone_else():
    user = TraceableUserFactory()
    api_key = ApiKeyFactory(user=user, name="laptop")
    prompt = unique_marker("my prompt")
    ingest_numbered(api_key, count=3, prompt=prompt)
    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": False})
    ingest_numbered(api_key, count=2)  # logging off: metadata only
    other = TraceableUserFactory()
    other_prompt = unique_marker("their prompt")
    ingest_numbered(ApiKeyFactory(user=other), count=2, prompt=other_prompt)

    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)
    response, body = download(client)

    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="portal-data-')
    assert response["Cache-Control"].startswith("max-age=0")
    doc = json.loads(body)
    assert doc["format"] == "portal-data-export/1"
    assert doc["account"] == str(user.public_id)
    assert doc["complete"] is True
    # Every registered kind of personal data is there, the account first.
    records = doc["records"]
    assert set(records) == {entry.kind for entry in registry.entries()}
    assert next(iter(records)) == "accounts.user"
    (account,) = records["accounts.user"]
    assert account["email"] == user.email
    assert account["display_name"] == user.display_name
    assert [row["email"] for row in records["account.emailaddress"]] == [user.email]
    (key_row,) = records["accounts.apikey"]
    assert key_row["name"] == "laptop" and key_row["prefix"] == api_key.prefix
    assert records["usersessions.usersession"], "the session just used is listed"
    changes = records["logging_prefs.preferencechange"]
    assert [(c["setting"], c["old_value"], c["new_value"]) for c in changes] == [
        ("log_prompts", "on", "off")
    ]
    generations = records["logging_prefs.generation"]
    assert len(generations) == 5
    assert sorted(g["prompt"] for g in generations if g["prompt"]) == [
        f"{prompt} #{i}" for i in range(3)
    ]
    assert sum(g["text_state"] == Generation.TextState.NOT_LOGGED for g in generations) == 2
    assert all(g["app_url"] == "https://app.example.com/chat" for g in generations)

    # Nothing of anyone else.
    text = body.decode()
    assert other_prompt not in text
    assert other.email not in text
    # No secret that would let the file's holder act as the person.
    user.refresh_from_db()
    assert "password" not in account
    assert user.password not in text
    assert ApiKey.objects.get(pk=api_key.pk).hashed_key not in text
    assert client.session.session_key not in text
    assert doc["left_out"]["accounts.user"]["password"]
    assert set(doc["left_out"]["sessions.session"]) == {"session_key", "session_data"}
    assert set(doc["left_out"]["privacy.termination"]) == {"legal_hold_reason"}


def test_each_download_is_in_the_audit_trail_without_an_email_address():
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)
    download(client)
    download(client)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_DOWNLOADED)
    assert [(e.actor_id, e.target, e.detail) for e in events] == [
        (user.pk, f"account:{user.pk}", {})
    ] * 2


def test_the_download_needs_a_recent_reauthentication():
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=1, prompt=unique_marker("secret plans"))
    client = sign_in(user)
    assert asks_for_reauthentication(client.get(DOWNLOAD_URL), DOWNLOAD_URL)

    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)
    age_reauthentication(client, 60 * 60)
    assert asks_for_reauthentication(client.get(DOWNLOAD_URL), DOWNLOAD_URL)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DATA_DOWNLOADED).exists()


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in():
    response = Client().get(DOWNLOAD_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_download_answers_only_get():
    client = signed_in_and_reauthenticated(TraceableUserFactory(), DOWNLOAD_URL)
    assert client.post(DOWNLOAD_URL).status_code == 405


def test_the_data_page_offers_the_download():
    client = signed_in_and_reauthenticated(TraceableUserFactory(), DATA_URL)
    page = client.get(DATA_URL).content.decode()
    assert f'href="{DOWNLOAD_URL}"' in page
    assert "Download my data" in page


def test_generations_are_read_page_by_page_each_exactly_once(monkeypatch):
    """Keyset pages on (created_at, id): rows that share a time are neither repeated nor
    skipped at a page boundary, and a page is one query whatever the account's size."""
    monkeypatch.setattr(export, "EXPORT_PAGE_ROWS", 3)
    user = TraceableUserFactory()
    api_key = ApiKeyFactory(user=user)
    same_time = timezone.now() - dt.timedelta(hours=1)
    ids = ingest_numbered(api_key, count=5, created_at=same_time)
    ids += ingest_numbered(api_key, count=4, created_at=same_time + dt.timedelta(minutes=1))
    ids += ingest_numbered(api_key, count=1, created_at=same_time - dt.timedelta(minutes=1))

    with CaptureQueriesContext(connection) as queries:
        doc = exported(user)

    generations = doc["records"]["logging_prefs.generation"]
    assert sorted(g["gateway_id"] for g in generations) == sorted(ids)
    assert [(g["created_at"], g["id"]) for g in generations] == sorted(
        (g["created_at"], g["id"]) for g in generations
    )
    # 10 generations in pages of 3: 4 queries; every other kind: one page, one query.
    assert len(queries) == len(export.export_entries()) - 1 + 4


def test_an_account_with_nothing_logged_downloads_empty_lists():
    user = TraceableUserFactory()
    doc = exported(user)
    assert doc["complete"] is True
    assert doc["records"]["logging_prefs.generation"] == []
    assert doc["records"]["accounts.apikey"] == []


def test_the_registry_refuses_to_leave_out_a_field_that_does_not_exist_or_without_a_reason():
    with pytest.raises(ValueError, match="no field 'secret'"):
        registry.register(ApiKey, not_exported={"secret": "why"})
    with pytest.raises(ValueError, match="say why"):
        registry.register(ApiKey, not_exported={"hashed_key": ""})


def test_a_second_download_while_one_is_streaming_is_refused_with_a_clear_message():
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=3, prompt=unique_marker("prompt"))
    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)

    first = client.get(DOWNLOAD_URL)  # headers sent, body not read yet
    assert first.status_code == 200
    second = client.get(DOWNLOAD_URL, follow=True)
    assert second.redirect_chain == [(DATA_URL, 302)]
    assert "A download of your data is already running" in second.content.decode()

    # The first download streams in full; the response closes at its end (as the server
    # closes it), which frees the next.
    doc = json.loads(b"".join(first.streaming_content))
    assert doc["complete"] is True
    _, body = download(client)
    assert json.loads(body)["complete"] is True
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DATA_DOWNLOADED).count() == 2


def test_a_download_the_client_abandons_before_reading_frees_the_next():
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)
    abandoned = client.get(DOWNLOAD_URL)
    # The browser went away before the first byte: the server closes the response
    # (without the test client's request_finished handler, which would close the test's
    # database connection, as the client itself does).
    request_finished.disconnect(close_old_connections)
    try:
        abandoned.close()
    finally:
        request_finished.connect(close_old_connections)
    _, body = download(client)
    assert json.loads(body)["complete"] is True


def test_the_download_goes_ahead_when_the_cache_is_unreachable(monkeypatch, caplog):
    """The one-at-a-time lock lives in the cache (Redis); without it the person still
    gets their data, and nothing answers 500."""
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user, DOWNLOAD_URL)

    class Unreachable:
        def __getattr__(self, name):
            def down(*args, **kwargs):
                raise ConnectionError("the cache is down")

            return down

    monkeypatch.setattr(export, "cache", Unreachable())
    _, body = download(client)
    assert json.loads(body)["complete"] is True
    assert "the cache is unreachable" in caplog.text
