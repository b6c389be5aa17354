from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import do_request_deletion
from privacy.export import do_record_data_download
from privacy.models import AppendOnly, AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.markers import unique_marker

pytestmark = pytest.mark.django_db


def test_audit_trail_is_append_only_and_holds_no_email_or_text(
    run_purge, small_chunks, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    prompt = unique_marker("prompt")
    ingest_numbered(ApiKeyFactory(user=user), count=5, prompt=prompt)
    staff = TraceableUserFactory()
    prompts = do_request_deletion(
        user=user, acting_user=staff, scope="prompts", origin=DeletionRequest.Origin.SUPPORT
    )
    with django_capture_on_commit_callbacks(execute=True):
        account = do_delete_account(user=user, acting_user=user)
    run_purge()

    events = list(AuditEvent.objects.order_by("id"))
    actions = [event.action for event in events if event.deletion_request_id == account.pk]
    assert actions[:4] == ["requested", "verified", "account_closed", "scheduled"]
    assert "started" in actions and actions.count("chunk") >= 3
    assert actions[-2:] == ["completed", "notice_sent"]
    assert events[0].actor_id == staff.pk and events[0].target == f"deletion_request:{prompts.pk}"
    assert {event.actor_id for event in events if event.action == "chunk"} == {None}
    trail = repr([(e.at, e.actor_id, e.action, e.target, e.detail) for e in events])
    for secret in (user.email, user.display_name, prompt, staff.email):
        assert secret not in trail

    event = events[0]
    event.action = "completed"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="completed")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    # Below the ORM too: the PostgreSQL trigger refuses raw SQL.
    for sql in (
        "UPDATE privacy_auditevent SET action = 'completed' WHERE id = %s",
        "DELETE FROM privacy_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "requested"
    assert AuditEvent.objects.count() == len(events)


def test_the_audit_trail_only_ever_forgets_an_erased_account_and_changes_nothing_else():
    """The one UPDATE the trigger allows: an erased account's id forgotten (actor_id NULL,
    a data download's target "account:erased"), and only once the account row is gone."""
    live = TraceableUserFactory()
    live_event = do_record_data_download(user=live)
    gone_id = (User.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    gone_event = AuditEvent.objects.create(
        action="data_downloaded", actor_id=gone_id, target=f"account:{gone_id}"
    )

    def refused(sql: str, params: list) -> None:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)

    # A live account is never forgotten, not even by raw SQL.
    refused("UPDATE privacy_auditevent SET actor_id = NULL WHERE id = %s", [live_event.pk])
    refused(
        "UPDATE privacy_auditevent SET target = 'account:erased' WHERE id = %s", [live_event.pk]
    )
    # Forgetting an erased account changes nothing else of the event.
    for sql, params in (
        ("UPDATE privacy_auditevent SET actor_id = %s WHERE id = %s", [live.pk]),
        ("UPDATE privacy_auditevent SET target = %s WHERE id = %s", [f"account:{live.pk}"]),
        ("UPDATE privacy_auditevent SET target = 'anything' WHERE id = %s", []),
        ("UPDATE privacy_auditevent SET actor_id = NULL, action = 'completed' WHERE id = %s", []),
        ("UPDATE privacy_auditevent SET actor_id = NULL, detail = %s WHERE id = %s", ['{"n": 1}']),
        ("UPDATE privacy_auditevent SET actor_id = NULL, at = now() WHERE id = %s", []),
        ("DELETE FROM privacy_auditevent WHERE id = %s", []),
    ):
        refused(sql, [*params, gone_event.pk])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE privacy_auditevent SET actor_id = NULL, target = 'account:erased'"
            " WHERE id = %s",
            [gone_event.pk],
        )
    gone_event = AuditEvent.objects.get(pk=gone_event.pk)
    assert (gone_event.actor_id, gone_event.target) == (None, "account:erased")
    assert gone_event.action == "data_downloaded"
    live_event = AuditEvent.objects.get(pk=live_event.pk)
    assert (live_event.actor_id, live_event.target) == (live.pk, f"account:{live.pk}")
    # The model still refuses every change in Python.
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=gone_event.pk).update(actor_id=None)
