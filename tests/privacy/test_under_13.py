"""The policy's Children's section: on a report that an account belongs to a child
under 13, support deletes the account and all its data at once, with no grace period."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from privacy.models import AuditEvent, DeletionRequest, Termination
from privacy.termination.legal_hold import do_set_legal_hold
from privacy.termination.terminate import do_terminate_account
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import (
    admin_client,
    make_superuser,
    make_support_member,
    messages_of,
    user_list_action,
)
from tests.helpers.gateway import decision_status
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import sign_in_as_browser

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status


def form_url(user: User) -> str:
    return f"/admin/accounts/user/{user.pk}/under-13/"


def test_under_13_report_deletes_the_account_at_once(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    child = TraceableUserFactory()
    child_id, email = child.pk, child.email
    prompt = unique_marker("homework")
    raw_key = ApiKeyFactory(user=child, name="main").raw_key
    ingest_numbered(ApiKey.objects.get(user=child), count=3, prompt=prompt)
    browser = sign_in_as_browser(child)
    member = make_support_member()
    client = admin_client(member)

    response = user_list_action(client, "report_under_13", child)
    assert response["Location"] == form_url(child)
    page = client.get(form_url(child))
    assert "This cannot be undone." in page.text
    assert "no grace period" in page.text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            form_url(child), {"note": "email from a parent, ticket 1234", "confirm": "on"}
        )

    request = DeletionRequest.objects.get(user_id=child_id)
    assert response["Location"] == f"/admin/privacy/deletionrequest/{request.pk}/change/"
    # At once: closed, signed out, keys refused, and the purge already on its way.
    assert request.origin == DeletionRequest.Origin.UNDER_13
    assert request.status == Status.SCHEDULED and request.purge_after is None
    assert request.verification_method == "company_decision"
    assert request.verification_note == "email from a parent, ticket 1234"
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]
    child.refresh_from_db()
    assert not child.is_active and not child.has_usable_password()
    assert not UserSession.objects.filter(user_id=child_id).exists()
    assert browser.get("/account/").status_code == 302
    assert decision_status(raw_key) in (401, 403)
    assert list(
        AuditEvent.objects.filter(deletion_request=request).values_list("action", "actor_id")
    ) == [
        ("requested", member.pk),
        ("verified", member.pk),
        ("account_closed", member.pk),
        ("scheduled", member.pk),
    ]
    assert AuditEvent.objects.get(deletion_request=request, action="requested").detail[
        "origin"
    ] == ("under_13")

    run_purge()
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert not User.objects.filter(pk=child_id).exists()
    assert not EmailAddress.objects.filter(email=email).exists()
    assert not Generation.objects.filter(prompt__contains=prompt).exists()
    assert Generation.objects.filter(user_id=child_id).count() == 0


def test_under_13_report_without_confirmation_changes_nothing(task_queue):
    child = TraceableUserFactory()
    client = admin_client(make_support_member())
    for data in ({}, {"note": "a parent wrote"}, {"confirm": "on", "note": "x" * 501}):
        response = client.post(form_url(child), data)
        assert response.status_code == 200
        assert "errorlist" in response.text
    child.refresh_from_db()
    assert child.is_active
    assert not DeletionRequest.objects.filter(user_id=child.pk).exists()
    # Staff without the permission: 403; a forged id: a message, not a 500.
    staff = TraceableUserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    assert admin_client(staff).post(form_url(child), {"confirm": "on"}).status_code == 403
    assert client.post("/admin/accounts/user/0/under-13/", {"confirm": "on"}).status_code == 302


def test_under_13_report_overrides_a_terminations_grace_period_but_not_a_legal_hold(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    child = TraceableUserFactory()
    ApiKeyFactory(user=child)
    member = make_support_member()
    with django_capture_on_commit_callbacks(execute=True):
        termination = do_terminate_account(
            user=child,
            acting_user=member,
            reason_category="other",
            reason="spam",
            notice_text="You are terminated.",
        )
    do_set_legal_hold(
        termination=termination, acting_user=make_superuser(), hold=True, reason="court order"
    )
    client = admin_client(member)
    response = client.post(form_url(child), {"confirm": "on"}, follow=True)
    assert "legal hold" in " ".join(messages_of(response))
    assert DeletionRequest.objects.filter(user_id=child.pk).count() == 1

    do_set_legal_hold(
        termination=termination, acting_user=make_superuser(), hold=False, reason="withdrawn"
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(form_url(child), {"confirm": "on"})
    termination.refresh_from_db()
    assert termination.deletion_request.status == Status.CANCELLED
    now = DeletionRequest.objects.get(user_id=child.pk, origin="under_13")
    assert now.status == Status.SCHEDULED and now.purge_after is None
    run_purge()
    assert not User.objects.filter(pk=child.pk).exists()
    assert Termination.objects.get(pk=termination.pk).user_id is None
