"""Free text survives erasure (issue 13, item 6).

What the lifecycle keeps after an account's purge (its deletion requests, the
termination record, the audit trail) holds neither support's free text about the
person (a verification note, a rejection reason, an under-13 report's note, a
termination's reason and notice, a legal hold's reasons) nor the erased account's id,
anywhere a person's id is kept: as the account a row is about, as the person acting on
their own request, or as the member of staff whose own account it was. A request stays
findable by its own id (the reference in the person's notice) with its receipt.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from logging_prefs.models import PreferenceChange
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import (
    do_delete_stored_prompts,
    do_reject_deletion_request,
    do_request_deletion,
    do_schedule_deletion_request,
    do_verify_deletion_request,
)
from privacy.export import do_record_data_download
from privacy.models import AuditEvent, DeletionRequest, Termination
from privacy.termination.legal_hold import do_set_legal_hold
from privacy.termination.terminate import do_terminate_account
from privacy.termination.under_13 import do_report_under_13
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import make_superuser, make_support_member
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import every_table_as_text

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status

# Every field where a kept row holds a person's id (written out here, not read from the
# registry, so the registry cannot leave one out unnoticed).
ID_FIELDS = {
    DeletionRequest: (
        "user_id",
        "received_by_id",
        "verified_by_id",
        "scheduled_by_id",
        "rejected_by_id",
        "cancelled_by_id",
    ),
    Termination: ("user_id", "terminated_by_id", "legal_hold_changed_by_id"),
    AuditEvent: ("actor_id",),
    PreferenceChange: ("actor_id",),
}


def rows_holding(account_id: int) -> list[str]:
    found = [
        f"{model.__name__}.{name}"
        for model, names in ID_FIELDS.items()
        for name in names
        if model._base_manager.filter(**{name: account_id}).exists()
    ]
    if AuditEvent.objects.filter(target=f"account:{account_id}").exists():
        found.append("AuditEvent.target")
    return found


def test_after_the_purge_no_kept_row_holds_the_erased_accounts_id_or_free_text_about_it(
    task_queue, run_purge, mailoutbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    person = TraceableUserFactory()
    person_id, email = person.pk, person.email
    ingest_numbered(ApiKeyFactory(user=person), count=3, prompt=unique_marker("prompt"))
    first, second, legal = make_support_member(), make_support_member(), make_superuser()
    texts = {
        what: unique_marker(f"Ada Lovelace, {what}")
        for what in (
            "verification note",
            "rejection reason",
            "termination reason",
            "termination notice",
            "lift reason",
            "under-13 note",
        )
    }

    # Support opened a request, verified it by other means (a note), a colleague
    # scheduled it, and it ran.
    prompts = do_request_deletion(user=person, acting_user=first, scope="prompts", origin="support")
    do_verify_deletion_request(
        deletion_request=prompts,
        acting_user=first,
        verification_method="other",
        verification_note=texts["verification note"],
    )
    with capture(execute=True):
        do_schedule_deletion_request(deletion_request=prompts, acting_user=second)
    run_purge()
    # Another was rejected, with a reason the person was mailed.
    rejected = do_request_deletion(
        user=person, acting_user=first, scope="account", origin="support"
    )
    do_reject_deletion_request(
        deletion_request=rejected, acting_user=second, reason=texts["rejection reason"]
    )
    # The person's own steps: a prompts deletion and a data download.
    with capture(execute=True):
        own, _ = do_delete_stored_prompts(user=person, acting_user=person)
    run_purge()
    do_record_data_download(user=person)
    # Terminated; a hold set and lifted; then reported as under 13, which cancels the
    # termination's grace period and purges at once.
    with capture(execute=True):
        termination = do_terminate_account(
            user=person,
            acting_user=first,
            reason_category="abuse",
            reason=texts["termination reason"],
            notice_text=texts["termination notice"],
        )
    # (The reason of the hold's latest change is the one kept.)
    do_set_legal_hold(termination=termination, acting_user=legal, hold=True, reason="order")
    do_set_legal_hold(
        termination=termination, acting_user=legal, hold=False, reason=texts["lift reason"]
    )
    waiting = do_request_deletion(user=person, acting_user=first, scope="prompts", origin="support")
    with capture(execute=True):
        report = do_report_under_13(user=person, acting_user=second, note=texts["under-13 note"])
    before = every_table_as_text()
    assert all(text in before for text in texts.values())  # the dump does see them
    assert rows_holding(person_id)
    mailoutbox.clear()

    run_purge()

    report.refresh_from_db()
    assert report.status == Status.COMPLETED
    assert not User.objects.filter(pk=person_id).exists()
    after = every_table_as_text()
    for what, text in [*texts.items(), ("email", email)]:
        assert text not in after, f"the {what} survived the purge"
    assert rows_holding(person_id) == []
    # The termination record (anonymised) no longer leads back through its request.
    termination.refresh_from_db()
    assert termination.user_id is None and termination.deletion_request.user_id is None
    # A request still waiting is cancelled: there is nothing left to erase.
    waiting.refresh_from_db()
    assert waiting.status == Status.CANCELLED and waiting.user_id is None

    # What the lifecycle needs stays: every request by its own id, with its status,
    # receipt and trail, and who on staff did what.
    for request, status in (
        (prompts, Status.COMPLETED),
        (rejected, Status.REJECTED),
        (own, Status.COMPLETED),
        (report, Status.COMPLETED),
    ):
        request.refresh_from_db()
        assert request.status == status and request.user_id is None
        assert request.verification_note == request.rejection_reason == ""
    assert prompts.received_by_id == prompts.verified_by_id == first.pk
    assert prompts.scheduled_by_id == second.pk
    assert termination.terminated_by_id == first.pk
    assert termination.legal_hold_changed_by_id == legal.pk
    assert report.receipt["kept"] and report.receipt["erased"]["deleted"]["accounts.user"] == 1
    # The person's own steps are still in the trail, without their id.
    assert list(AuditEvent.objects.filter(deletion_request=own).values_list("action", "actor_id"))[
        :3
    ] == [("requested", None), ("verified", None), ("scheduled", None)]
    assert AuditEvent.objects.filter(action="data_downloaded", target="account:erased").exists()
    # The notice names the request by its id: the reference to quote.
    (notice,) = mailoutbox
    assert notice.to == [email] and f"Reference: {report.target}" in notice.body


def test_an_erased_staff_members_id_is_forgotten_in_the_records_of_their_work(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    member, colleague, legal = make_support_member(), make_support_member(), make_superuser()
    person, terminated = TraceableUserFactory(), TraceableUserFactory()
    request = do_request_deletion(
        user=person, acting_user=member, scope="prompts", origin="support"
    )
    do_verify_deletion_request(
        deletion_request=request, acting_user=member, verification_method="email_reply"
    )
    with capture(execute=True):
        do_schedule_deletion_request(deletion_request=request, acting_user=colleague)
    run_purge()
    rejected = do_request_deletion(
        user=person, acting_user=colleague, scope="account", origin="support"
    )
    do_reject_deletion_request(deletion_request=rejected, acting_user=member, reason="no reply")
    with capture(execute=True):
        termination = do_terminate_account(
            user=terminated,
            acting_user=member,
            reason_category="abuse",
            reason="spam",
            notice_text="You are terminated.",
        )
    do_set_legal_hold(termination=termination, acting_user=legal, hold=True, reason="order")
    member_id = member.pk
    their_events = AuditEvent.objects.filter(actor_id=member_id).count()
    assert their_events >= 5 and rows_holding(member_id)

    # The member of staff leaves and deletes their own account, as anyone does.
    with capture(execute=True):
        do_delete_account(user=member, acting_user=member)
    run_purge()

    assert not User.objects.filter(pk=member_id).exists()
    assert rows_holding(member_id) == []
    # Their work is still on record, without who did it; everyone else's ids stay.
    request.refresh_from_db()
    rejected.refresh_from_db()
    termination.refresh_from_db()
    assert request.user_id == person.pk and request.status == Status.COMPLETED
    assert request.received_by_id is None and request.verified_by_id is None
    assert request.scheduled_by_id == colleague.pk
    assert rejected.rejected_by_id is None and rejected.received_by_id == colleague.pk
    assert termination.terminated_by_id is None and termination.user_id == terminated.pk
    assert termination.legal_hold and termination.legal_hold_changed_by_id == legal.pk
    assert AuditEvent.objects.filter(actor_id=colleague.pk).exists()
    assert AuditEvent.objects.filter(action="terminated", actor_id=None).count() == 1
