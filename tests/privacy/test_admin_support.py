"""Support staff in the admin: the Support group's least privileges, and processing
deletion requests (verify, schedule, reject, open for someone who wrote in) through
privacy actions, with illegal steps refused and nothing changed."""

from __future__ import annotations

import datetime as dt
import io
import re
import smtplib

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from logging_prefs.models import Generation
from privacy import mail as privacy_mail
from privacy.deletion.account import do_delete_account
from privacy.deletion.requests import do_request_deletion, do_verify_deletion_request
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.admin import (
    SERVICE_PROVIDERS_MIGRATION,
    SUPPORT_MIGRATION,
    SUPPORT_TICKETS_MIGRATION,
    SUPPORT_WALLETS_MIGRATION,
    admin_client,
    make_superuser,
    make_support_member,
    messages_of,
    support_group,
)
from tests.helpers.markers import unique_marker
from tests.mfa import authenticator_secret, sign_in_with_code

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status
LIST = "/admin/privacy/deletionrequest/"


def url(request: DeletionRequest, step: str = "change") -> str:
    return f"{LIST}{request.pk}/{step}/"


def user_request(user: User, scope: str = "prompts") -> DeletionRequest:
    """What the user's own "delete my data" does: a RECEIVED request."""
    return do_request_deletion(
        user=user, acting_user=user, scope=scope, origin=DeletionRequest.Origin.USER
    )


def trail(request: DeletionRequest) -> list[tuple[str, int | None]]:
    return list(
        AuditEvent.objects.filter(deletion_request=request)
        .order_by("id")
        .values_list("action", "actor_id")
    )


def test_support_group_has_exactly_the_least_privileges():
    group = support_group()
    granted = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    assert granted == {
        f"{app_label}.{codename}"
        for migration in (
            SUPPORT_MIGRATION,
            SUPPORT_WALLETS_MIGRATION,
            SERVICE_PROVIDERS_MIGRATION,
            SUPPORT_TICKETS_MIGRATION,
        )
        for app_label, _, codename in migration.PERMISSIONS
    }
    assert granted == {
        "accounts.view_user",
        "accounts.view_wallet",
        "privacy.view_serviceprovider",
        "privacy.view_deletionrequest",
        "privacy.change_deletionrequest",
        "privacy.view_auditevent",
        "privacy.view_termination",
        "privacy.terminate_account",
        "privacy.report_under_13",
        "support.view_ticket",
        "support.change_ticket",
    }
    member = make_support_member()
    for forbidden in (
        "accounts.change_user",
        "accounts.change_wallet",
        "accounts.delete_wallet",
        "auth.change_permission",
        "auth.change_group",
        "privacy.delete_auditevent",
        "privacy.change_auditevent",
        "privacy.set_legal_hold",
        "logging_prefs.view_generation",
    ):
        assert not member.has_perm(forbidden), forbidden


def test_support_group_cannot_open_prompt_text():
    owner = TraceableUserFactory()
    prompt = unique_marker("secret prompt")
    ingest_numbered(ApiKeyFactory(user=owner), count=1, prompt=prompt)
    generation = Generation.objects.get(user=owner)
    member = make_support_member()
    client = admin_client(member)

    assert not any(p.startswith("logging_prefs.") for p in member.get_all_permissions())
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "logging_prefs" not in index.text and "Generation" not in index.text
    for path in (
        "/admin/logging_prefs/generation/",
        f"/admin/logging_prefs/generation/{generation.pk}/change/",
        f"/admin/logging_prefs/generation/?q={prompt}",
    ):
        response = client.get(path)
        assert response.status_code in (403, 404), path
        assert prompt not in response.text
    # Not even a superuser reads the text in the admin, wherever Generation shows up.
    superuser_client = admin_client(make_superuser())
    for path in (
        "/admin/",
        "/admin/logging_prefs/generation/",
        f"/admin/logging_prefs/generation/{generation.pk}/change/",
    ):
        response = superuser_client.get(path, follow=True)
        assert response.status_code in (200, 404), path
        assert prompt not in response.text
        assert "completion of" not in response.text


def test_support_group_cannot_change_user_passwords_or_permissions():
    person = TraceableUserFactory()
    client = admin_client(make_support_member())
    password_hash = person.password

    assert client.get(f"/admin/accounts/user/{person.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/user/{person.pk}/password/").status_code == 403
    response = client.post(
        f"/admin/accounts/user/{person.pk}/password/",
        {"password1": "new-Password-123", "password2": "new-Password-123"},
    )
    assert response.status_code == 403
    response = client.post(
        f"/admin/accounts/user/{person.pk}/change/",
        {"email": person.email, "is_staff": "on", "is_superuser": "on", "is_active": "on"},
    )
    assert response.status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403
    person.refresh_from_db()
    assert person.password == password_hash
    assert not person.is_staff and not person.is_superuser


def test_support_group_cannot_delete_audit_records():
    user = TraceableUserFactory()
    request = user_request(user)
    event = AuditEvent.objects.get(deletion_request=request)
    count = AuditEvent.objects.count()
    for member in (make_support_member(), make_superuser()):
        client = admin_client(member)
        assert client.get("/admin/privacy/auditevent/").status_code == 200
        assert client.get(f"/admin/privacy/auditevent/{event.pk}/change/").status_code == 200
        assert client.get(f"/admin/privacy/auditevent/{event.pk}/delete/").status_code == 403
        assert client.post(f"/admin/privacy/auditevent/{event.pk}/delete/").status_code == 403
        response = client.post(
            f"/admin/privacy/auditevent/{event.pk}/change/", {"action": "completed"}
        )
        assert response.status_code == 403
        assert client.get("/admin/privacy/auditevent/add/").status_code == 403
        response = client.post(
            "/admin/privacy/auditevent/",
            {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
            follow=True,
        )
        assert response.status_code == 200
        assert "delete_selected" not in response.text
    assert AuditEvent.objects.count() == count
    assert AuditEvent.objects.get(pk=event.pk).action == "requested"


def test_support_verifies_and_schedules_a_request(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=3, prompt=unique_marker("prompt"))
    request = user_request(user)
    member = make_support_member()
    client = admin_client(member)

    listing = client.get(LIST, {"status__exact": "received"})
    assert listing.status_code == 200
    assert url(request) in listing.text
    page = client.get(url(request))
    assert page.status_code == 200
    assert url(request, "verify") in page.text
    assert url(request, "schedule") not in page.text  # not before verification
    form = client.get(url(request, "verify"))
    assert form.status_code == 200
    assert "Reply from the account&#x27;s email address" in form.text

    response = client.post(
        url(request, "verify"),
        {"verification_method": "email_reply", "verification_note": "replied from it"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url(request)
    assert f"{request} is verified" in " ".join(messages_of(response))
    request.refresh_from_db()
    assert request.status == Status.VERIFIED
    assert request.verification_method == "email_reply"
    assert request.verification_note == "replied from it"
    assert request.verified_by_id == member.pk

    assert client.get(url(request, "schedule")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(request, "schedule"), follow=True)
    assert "the purge starts now" in " ".join(messages_of(response))
    request.refresh_from_db()
    assert request.status == Status.SCHEDULED
    assert request.scheduled_by_id == member.pk
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]
    assert trail(request) == [
        ("requested", user.pk),
        ("verified", member.pk),
        ("scheduled", member.pk),
    ]
    assert AuditEvent.objects.get(deletion_request=request, action="verified").detail == {
        "method": "email_reply"
    }

    run_purge()
    page = client.get(url(request))
    assert "Completed" in page.text
    assert "text erased 3" in page.text


def test_verifying_by_other_means_needs_a_note():
    request = user_request(TraceableUserFactory())
    client = admin_client(make_support_member())
    response = client.post(url(request, "verify"), {"verification_method": "other"})
    assert response.status_code == 200
    assert "Say how the requester was verified." in response.text
    response = client.post(url(request, "verify"), {"verification_method": "company_decision"})
    assert response.status_code == 200  # not a choice for a person's own request
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert trail(request) == [("requested", request.user_id)]


def test_reject_tells_the_user_why(mailoutbox):
    user = TraceableUserFactory()
    request = user_request(user, scope="account")
    member = make_support_member()
    client = admin_client(member)
    reason = "We could not confirm that the request came from the account holder."

    assert client.get(url(request, "reject")).status_code == 200
    response = client.post(url(request, "reject"), {"reason": reason}, follow=True)

    assert "the requester was told why" in " ".join(messages_of(response))
    request.refresh_from_db()
    assert request.status == Status.REJECTED
    assert request.rejection_reason == reason
    assert request.rejected_by_id == member.pk
    assert request.notice_email == ""
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    assert reason in message.body
    assert "Nothing has been deleted" in message.body
    assert trail(request)[-1] == ("rejected", member.pk)
    # The reason is free text: kept on the request, not in the audit trail.
    assert reason not in repr(list(AuditEvent.objects.values_list("detail", flat=True)))
    user.refresh_from_db()
    assert user.is_active


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_reject_without_a_usable_reason_changes_nothing(mailoutbox, reason):
    request = user_request(TraceableUserFactory())
    response = admin_client(make_support_member()).post(url(request, "reject"), {"reason": reason})
    assert response.status_code == 200
    assert "errorlist" in response.text
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert mailoutbox == []


def test_reject_is_refused_when_the_mail_cannot_be_sent(monkeypatch):
    def mail_server_down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(privacy_mail.EmailMessage, "send", mail_server_down)
    request = user_request(TraceableUserFactory())
    response = admin_client(make_support_member()).post(
        url(request, "reject"), {"reason": "not verifiable"}, follow=True
    )
    assert response.status_code == 200
    assert "could not be sent" in " ".join(messages_of(response))
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert request.notice_email


def test_illegal_transitions_are_refused_with_a_message_and_change_nothing(
    task_queue, run_purge, django_capture_on_commit_callbacks, mailoutbox
):
    user = TraceableUserFactory()
    client = admin_client(make_support_member())
    with django_capture_on_commit_callbacks(execute=True):
        completed = do_delete_account(user=TraceableUserFactory(), acting_user=None)
    run_purge()
    completed.refresh_from_db()
    assert completed.status == Status.COMPLETED
    mailoutbox.clear()

    scheduled = user_request(user)
    do_verify_deletion_request(deletion_request=scheduled, acting_user=user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(scheduled, "schedule"))
    scheduled.refresh_from_db()
    assert scheduled.status == Status.SCHEDULED

    cases = [
        (completed, "verify", {"verification_method": "email_reply"}, "cannot verify"),
        (completed, "reject", {"reason": "too late"}, "cannot reject"),
        (scheduled, "schedule", {}, "cannot schedule"),  # scheduling twice
        (scheduled, "verify", {"verification_method": "signed_in"}, "cannot verify"),
        (scheduled, "reject", {"reason": "changed my mind"}, "cannot reject"),
    ]
    for request, step, data, expected in cases:
        before = DeletionRequest.objects.get(pk=request.pk)
        events = AuditEvent.objects.count()
        # Offered nowhere: the page itself refuses (a stale link)...
        shown = client.get(url(request, step), follow=True)
        assert shown.status_code == 200
        assert "Cannot" in " ".join(messages_of(shown)), (step, request.status)
        assert url(request, step) not in shown.text
        # ...and a POST straight at it is refused by the action, under the row lock.
        response = client.post(url(request, step), data, follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == url(request)
        text = " ".join(messages_of(response))
        assert "Nothing was changed" in text and expected in text, (step, text)
        after = DeletionRequest.objects.get(pk=request.pk)
        assert [getattr(after, f.attname) for f in DeletionRequest._meta.concrete_fields] == [
            getattr(before, f.attname) for f in DeletionRequest._meta.concrete_fields
        ]
        assert AuditEvent.objects.count() == events
    assert mailoutbox == []
    # Only the one legal schedule published a purge.
    assert task_queue.purges == [{"request_id": scheduled.pk, "claim": None, "chunk": 0}]


def test_forged_ids_in_admin_urls_are_refused_not_500():
    client = admin_client(make_superuser())
    for path in (
        f"{LIST}999999999/verify/",
        f"{LIST}999999999/schedule/",
        f"{LIST}not-a-number/reject/",
        f"{LIST}1%27%20OR%201=1/verify/",
        "/admin/accounts/user/999999999/terminate/",
        "/admin/accounts/user/abc/under-13/",
        "/admin/privacy/termination/999999999/legal-hold/",
        "/admin/privacy/termination/-1/change/",
    ):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (path, response.status_code)
            assert response["Location"] == "/admin/", path
            followed = client.get(response["Location"])
            assert "doesn’t exist" in " ".join(messages_of(followed))


def test_non_staff_user_on_admin_urls_is_redirected_not_500():
    person = TraceableUserFactory()
    request = user_request(person)
    signed_in = Client()
    signed_in.force_login(TraceableUserFactory())
    paths = [
        "/admin/",
        LIST,
        url(request),
        url(request, "verify"),
        url(request, "schedule"),
        url(request, "reject"),
        f"{LIST}open/",
        f"/admin/accounts/user/{person.pk}/terminate/",
        f"/admin/accounts/user/{person.pk}/under-13/",
        "/admin/privacy/termination/1/legal-hold/",
        "/admin/privacy/auditevent/",
    ]
    for client in (signed_in, Client()):
        for path in paths:
            for method in (client.get, client.post):
                response = method(path, {"reason": "x", "verification_method": "other"})
                assert response.status_code == 302, (path, response.status_code)
                assert response["Location"].startswith("/admin/login/?next="), path
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    person.refresh_from_db()
    assert person.is_active


def test_staff_without_the_support_group_cannot_process_requests():
    request = user_request(TraceableUserFactory())
    staff = TraceableUserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="privacy", codename="view_deletionrequest")
    )
    client = admin_client(staff)
    assert client.get(url(request)).status_code == 200
    assert url(request, "verify") not in client.get(url(request)).text
    for step in ("verify", "schedule", "reject"):
        assert client.post(url(request, step), {"reason": "x"}).status_code == 403
    assert client.get(f"{LIST}open/").status_code == 403
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


def test_support_opens_a_request_for_someone_who_wrote_in():
    person = TraceableUserFactory()
    member = make_support_member()
    client = admin_client(member)
    listing = client.get(LIST)
    assert f"{LIST}open/" in listing.text

    response = client.post(
        f"{LIST}open/", {"address": person.email.upper(), "scope": "account"}, follow=True
    )

    request = DeletionRequest.objects.get(user_id=person.pk)
    assert response.redirect_chain[-1][0] == url(request)
    assert request.origin == DeletionRequest.Origin.SUPPORT
    assert request.scope == "account"
    assert request.status == Status.RECEIVED
    assert request.received_by_id == member.pk
    assert request.notice_email == person.email
    assert trail(request) == [("requested", member.pk)]
    person.refresh_from_db()
    assert person.is_active  # nothing happens before verification

    # An address no account has: a clear error on the form, nothing opened.
    response = client.post(f"{LIST}open/", {"address": "nobody@example.com", "scope": "prompts"})
    assert response.status_code == 200
    assert "No account has this confirmed email address." in response.text
    # Nor one that some account holds without having confirmed it: it may be the
    # writer's own address, and the account someone else's.
    squatter = TraceableUserFactory()
    EmailAddress.objects.create(user=squatter, email="held@example.com", verified=False)
    response = client.post(f"{LIST}open/", {"address": "held@example.com", "scope": "account"})
    assert "No account has this confirmed email address." in response.text
    response = client.post(f"{LIST}open/", {"address": "not an address", "scope": "prompts"})
    assert response.status_code == 200
    assert "Enter an email address, or a wallet address" in response.text
    response = client.post(f"{LIST}open/", {"address": "0x" + "a" * 40, "scope": "prompts"})
    assert response.status_code == 200
    assert "No account has this wallet address." in response.text
    response = client.post(f"{LIST}open/", {"address": person.email, "scope": "everything"})
    assert response.status_code == 200
    assert "Select a valid choice." in response.text
    assert DeletionRequest.objects.count() == 1


def test_overdue_filter_and_days_left():
    fresh = user_request(TraceableUserFactory())
    late = user_request(TraceableUserFactory())
    DeletionRequest.objects.filter(pk=late.pk).update(
        due_at=timezone.now() - dt.timedelta(days=2, hours=1)
    )
    done = user_request(TraceableUserFactory())
    DeletionRequest.objects.filter(pk=done.pk).update(
        due_at=timezone.now() - dt.timedelta(days=5), status=Status.REJECTED
    )
    client = admin_client(make_support_member())

    overdue = client.get(LIST, {"overdue": "yes"})
    assert url(late) in overdue.text
    assert url(fresh) not in overdue.text and url(done) not in overdue.text
    assert "-3 (overdue)" in overdue.text
    not_overdue = client.get(LIST, {"overdue": "no"})
    assert url(fresh) in not_overdue.text and url(done) in not_overdue.text
    assert url(late) not in not_overdue.text
    assert ">29<" in not_overdue.text  # 30 days less a moment, rounded down


def test_request_pages_show_no_email_address_but_a_masked_one_until_the_notice_is_sent():
    user = TraceableUserFactory()
    request = user_request(user)
    client = admin_client(make_support_member())
    for path in (LIST, url(request), url(request, "verify")):
        response = client.get(path)
        assert response.status_code == 200
        assert user.email not in response.text, path
        assert user.display_name not in response.text, path
    local, domain = user.email.split("@")
    assert f"{local[0]}•••@{domain}" in client.get(url(request)).text


def test_demo_loader_puts_support_staff_in_the_support_group(settings):
    settings.DEBUG = True  # demo data is for development only
    support_group()
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    printed = io.StringIO()
    call_command("load_demo_data", stdout=printed)
    support = User.objects.get(email="support@portal.localhost")
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert not support.user_permissions.exists()
    assert support.is_staff and not support.is_superuser
    # The admin opens with the password and a code from the secret the loader prints
    # (the same one on every run).
    secret = re.search(r"authenticator app with secret ([A-Z2-7]+)", printed.getvalue()).group(1)
    assert f"otpauth://totp/support%40portal.localhost?secret={secret}&issuer=Portal" in (
        printed.getvalue()
    )
    client = Client()
    answer = sign_in_with_code(client, support, password="support-portal-password")
    assert answer.status_code == 302
    assert Authenticator.objects.filter(user=support).count() == 1
    assert authenticator_secret(support) == secret
    assert client.get(LIST).status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200
    demo = User.objects.get(email="demo@portal.localhost")
    assert not demo.is_staff and not demo.groups.exists()
    assert mail.outbox == []
