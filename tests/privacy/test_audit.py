from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from privacy.actions import do_delete_account, do_request_deletion
from privacy.models import AppendOnly, AuditEvent, DeletionRequest
from tests.privacy.conftest import ingest, make_user, new_key, unique_marker

pytestmark = pytest.mark.django_db


def test_audit_trail_is_append_only_and_holds_no_email_or_text(
    run_purge, small_chunks, django_capture_on_commit_callbacks
):
    user = make_user()
    prompt = unique_marker("prompt")
    ingest(new_key(user), count=5, prompt=prompt)
    staff = make_user()
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
    assert connection.vendor == "postgresql"
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
