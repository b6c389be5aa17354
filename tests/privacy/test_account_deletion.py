from __future__ import annotations

from decimal import Decimal

import pytest
import redis
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey, User
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from logging_prefs.models import Generation, LoggingPreference, PreferenceChange
from privacy.deletion import closing
from privacy.deletion.account import do_delete_account
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import (
    ApiKeyFactory,
    TraceableUserFactory,
    UserFactory,
)
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.gateway import decision_status
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import (
    BILLING_FIELDS,
    every_table_as_text,
    expected_totals,
    ledger_totals,
    sign_in_as_browser,
)

pytestmark = pytest.mark.django_db


def delete_account(user: User, capture) -> DeletionRequest:
    with capture(execute=True):
        return do_delete_account(user=user, acting_user=user)


def every_redis_value_as_text(url: str) -> str:
    client = redis.Redis.from_url(url)
    chunks = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                values = [client.get(key)]
            elif kind == b"list":
                values = client.lrange(key, 0, -1)
            elif kind == b"hash":
                values = [*client.hgetall(key).items()]
            elif kind == b"set":
                values = list(client.smembers(key))
            elif kind == b"zset":
                values = client.zrange(key, 0, -1)
            else:
                values = []
            chunks.append(f"{key!r}: {values!r}")
    finally:
        client.close()
    return "\n".join(chunks)


def test_after_account_deletion_no_table_holds_the_users_email_name_or_prompt_text(
    run_purge, small_chunks, django_capture_on_commit_callbacks
):
    prompt = unique_marker("secret prompt")
    app_host = unique_marker("myapp")
    user = TraceableUserFactory()
    email, name = user.email, user.display_name
    key_name = unique_marker("key name")
    main_key, other_key = (
        ApiKeyFactory(user=user, name=key_name),
        ApiKeyFactory(user=user, name="second"),
    )
    ingest_numbered(main_key, count=7, prompt=prompt, app_url=f"https://{app_host}.example.com/")
    ingest_numbered(other_key, count=2, prompt=prompt, app_title=app_host)
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})
    do_set_api_key_logging(api_key=other_key, acting_user=user, logging=ApiKey.Logging.NEVER)
    ingest_numbered(other_key, count=2, prompt=prompt)  # logging off for this key: no text stored
    sign_in_as_browser(user)
    sign_in_as_browser(user)
    staff = UserFactory(is_staff=True)
    for obj in (user, EmailAddress.objects.get(user=user), main_key):
        LogEntry.objects.create(
            user=staff,
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            object_repr=str(obj),
            action_flag=CHANGE,
            change_message=f'[{{"changed": {{"fields": ["{obj}"]}}}}]',
        )
    # Admin history about a generation (archived in bulk by one SQL statement) loses
    # the object's name too.
    generation_marker = unique_marker("generation named")
    LogEntry.objects.create(
        user=staff,
        content_type=ContentType.objects.get_for_model(Generation),
        object_id=str(Generation.objects.filter(user=user).first().pk),
        object_repr=generation_marker,
        action_flag=CHANGE,
        change_message=f'[{{"changed": {{"fields": ["{generation_marker}"]}}}}]',
    )
    markers = [email, name, prompt, app_host, key_name, generation_marker]
    before = every_table_as_text()
    assert all(marker in before for marker in markers)  # the dump does see them
    billing_before = sorted(Generation.objects.filter(user=user).values_list(*BILLING_FIELDS))
    ledger_before = ledger_totals()

    request = delete_account(user, django_capture_on_commit_callbacks)
    run_purge()

    request.refresh_from_db()
    assert request.status == DeletionRequest.Status.COMPLETED
    assert request.chunks_done > 3  # many small chunks, not one transaction
    after = every_table_as_text()
    for marker in markers:
        assert marker not in after, f"{marker!r} survived the purge"
    in_redis = every_redis_value_as_text(settings.REDIS_URL)
    for marker in markers:
        assert marker not in in_redis, f"{marker!r} survived in Redis"

    assert not User.objects.filter(pk=user.pk).exists()
    for model in (ApiKey, EmailAddress, UserSession, LoggingPreference, PreferenceChange):
        assert not model.objects.filter(user_id=user.pk).exists(), model
    # The generations are gone, not merely cut from the person: no row is left linked
    # to the account or its keys, and none of them is left at all.
    assert not Generation.objects.filter(user_id=user.pk).exists()
    assert not Generation.objects.filter(api_key_id__in=[main_key.pk, other_key.pk]).exists()
    assert not Generation.objects.filter(gateway_id__in=[row[0] for row in billing_before]).exists()
    # Their billing totals were added into the anonymous ledger, every one of them,
    # exactly once: per day, model and provider, nothing else.
    assert len(billing_before) == 11
    assert ledger_totals() == expected_totals(billing_before, plus=ledger_before)
    added_cost = sum(row[3] for row in ledger_totals().values()) - sum(
        row[3] for row in ledger_before.values()
    )
    assert added_cost == Decimal("0.00012") * 11

    assert request.receipt["kept"] == [
        {
            "kind": "logging_prefs.generation",
            "count": 11,
            "how": "archived",
            "into": "logging_prefs.billingdailytotal",
            "reason": request.receipt["kept"][0]["reason"],
        }
    ]
    assert "billing ledger" in request.receipt["kept"][0]["reason"]
    assert request.receipt["erased"]["text_erased"] == {"logging_prefs.generation": 9}
    deleted = request.receipt["erased"]["deleted"]
    assert deleted["accounts.apikey"] == 2
    assert deleted["accounts.user"] == 1
    assert deleted["logging_prefs.preferencechange"] == 2
    assert deleted["account.emailaddress"] == 1
    assert request.notice_email == ""
    assert [m.to for m in mail.outbox] == [[email]]
    # Staff history stays (who changed what, when) without the object's name.
    assert LogEntry.objects.filter(user=staff).count() == 4
    assert set(LogEntry.objects.values_list("object_repr", "change_message")) == {("", "")}


def test_account_deletion_deactivates_ends_sessions_and_revokes_keys_at_once(
    task_queue, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    raw_keys = []
    for name in ("one", "two"):
        raw_keys.append(ApiKeyFactory(user=user, name=name).raw_key)
    browsers = [sign_in_as_browser(user), sign_in_as_browser(user)]
    session_keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    assert len(session_keys) == 2
    assert [decision_status(raw) for raw in raw_keys] == [200, 200]

    request = delete_account(user, django_capture_on_commit_callbacks)

    # All of it before any purge ran: only the purge's first message is queued.
    assert task_queue.delivered == 0
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]
    assert request.status == DeletionRequest.Status.SCHEDULED
    user.refresh_from_db()
    assert user.is_active is False
    assert not user.has_usable_password()
    assert not UserSession.objects.filter(user=user).exists()
    assert not Session.objects.filter(session_key__in=session_keys).exists()
    for browser in browsers:
        response = browser.get("/account/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not ApiKey.objects.filter(user=user, revoked_at=None).exists()
    # The account is closed: the gateway hears 403 "account not active" (issue 4), not
    # merely 401 for a revoked key.
    assert [decision_status(raw) for raw in raw_keys] == [403, 403]
    assert list(
        AuditEvent.objects.filter(deletion_request=request).values_list("action", flat=True)
    ) == ["requested", "verified", "account_closed", "scheduled"]


def test_account_deletion_is_one_transaction_nothing_happens_when_a_step_fails(
    task_queue, django_capture_on_commit_callbacks, monkeypatch
):
    user = TraceableUserFactory()
    ApiKeyFactory(user=user, name="one")
    ApiKeyFactory(user=user, name="two")
    sign_in_as_browser(user)
    revoked = []

    def revoke_then_fail(*, api_key, acting_user):
        if revoked:
            raise RuntimeError("the database went away")
        revoked.append(api_key.pk)
        return do_revoke_api_key(api_key=api_key, acting_user=acting_user)

    monkeypatch.setattr(closing, "do_revoke_api_key", revoke_then_fail)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        do_delete_account(user=user, acting_user=user)

    user.refresh_from_db()
    assert revoked, "the first key was revoked before the failure"
    assert user.is_active is True
    assert user.has_usable_password()
    assert UserSession.objects.filter(user=user).count() == 1
    assert ApiKey.objects.filter(user=user, revoked_at=None).count() == 2
    assert not DeletionRequest.objects.filter(user_id=user.pk).exists()
    assert task_queue.purges == []


def test_deleted_email_can_sign_up_again_as_a_new_account(
    run_purge, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=3, prompt=unique_marker("old text"))
    email, old_pk, old_public_id = user.email, user.pk, user.public_id
    delete_account(user, django_capture_on_commit_callbacks)
    run_purge()
    mail.outbox.clear()

    password = "violet-otter-quietly-7-lanterns"
    response = Client().post(
        "/accounts/signup/",
        {"email": email, "password1": password, "password2": password, "age_confirmation": "on"},
    )

    assert response.status_code == 302, response.content[:2000]
    new = User.objects.get(email=email)
    assert new.pk != old_pk and new.public_id != old_public_id
    assert new.is_active
    assert not Generation.objects.filter(user=new).exists()
    assert not DeletionRequest.objects.filter(user_id=new.pk).exists()
    # The sign-up mail is a verification mail for the new account, not "you already
    # have an account" (which is what an existing address receives).
    assert len(mail.outbox) == 1
    assert "/accounts/confirm-email/" in mail.outbox[0].body
