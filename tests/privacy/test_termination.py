"""Termination with notice (the policy's Termination section), from the admin: the
account loses access at once, the person is told (mail and at sign-in, only after a
correct password), its data is purged after the grace period, unless a legal hold."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from privacy import mail as privacy_mail
from privacy.deletion.requests import do_request_deletion
from privacy.deletion.sweeper import do_sweep_deletion_requests
from privacy.models import AuditEvent, DeletionRequest, Termination
from privacy.termination.terminate import do_terminate_account
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, TraceableUserFactory
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
NOTICE = "We terminated your account for sending abusive traffic. Reply to dispute it."


def terminate_in_admin(client: Client, user: User, capture, **data) -> object:
    """The support path: the list action, then its confirmation form."""
    response = user_list_action(client, "terminate_account", user)
    assert response.status_code == 302, response.content[:300]
    form_url = response["Location"]
    assert form_url == f"/admin/accounts/user/{user.pk}/terminate/"
    page = client.get(form_url)
    assert page.status_code == 200
    assert "sign-in refused" in page.text
    fields = {"reason_category": "abuse", "reason": "abusive traffic", "notice_text": NOTICE}
    with capture(execute=True):
        return client.post(form_url, {**fields, **data}, follow=True)


def try_sign_in(user: User, password: str = DEFAULT_PASSWORD):
    return Client().post("/accounts/login/", {"login": user.email, "password": password})


def in_the_future(monkeypatch, days: float) -> dt.datetime:
    later = timezone.now() + dt.timedelta(days=days)
    monkeypatch.setattr(timezone, "now", lambda: later)
    return later


def test_terminated_user_is_told_and_loses_access_at_once(
    task_queue, mailoutbox, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    raw_key = ApiKeyFactory(user=user, name="main").raw_key
    browser = sign_in_as_browser(user)
    assert decision_status(raw_key) == 200
    member = make_support_member()
    client = admin_client(member)

    page = client.get(f"/admin/accounts/user/{user.pk}/terminate/")
    assert "Reason: [describe" in page.text  # the notice starts from a template
    response = terminate_in_admin(client, user, django_capture_on_commit_callbacks)

    termination = Termination.objects.get(user_id=user.pk)
    assert response.redirect_chain[-1][0] == f"/admin/privacy/termination/{termination.pk}/change/"
    assert "is terminated and the person notified" in " ".join(messages_of(response))
    # Access ends at once: inactive, signed out everywhere, every key refused.
    user.refresh_from_db()
    assert not user.is_active
    assert not UserSession.objects.filter(user=user).exists()
    account_page = browser.get("/account/")
    assert account_page.status_code == 302 and "/accounts/login/" in account_page["Location"]
    assert not ApiKey.objects.filter(user=user, revoked_at=None).exists()
    assert decision_status(raw_key) in (401, 403)
    # Told by mail, with the notice text, after commit.
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert NOTICE in mailoutbox[0].body
    termination.refresh_from_db()
    assert termination.notice_emailed_at is not None
    # Told at sign-in, after the right password only.
    shown = try_sign_in(user)
    assert shown.status_code == 200
    assert NOTICE in shown.text and "Your account has been terminated" in shown.text
    # Both cite the terms, at the section that says what survives termination.
    assert "/legal/terms/#termination" in shown.text
    assert "/legal/terms/" in mailoutbox[0].body and "#termination" in mailoutbox[0].body
    for other in (try_sign_in(user, "wrong-password"), Client().get("/accounts/inactive/")):
        assert NOTICE not in other.text
    assert "abusive traffic" not in try_sign_in(user, "wrong-password").text
    # Recorded: the termination, and a deletion scheduled after the grace period.
    request = termination.deletion_request
    assert request.origin == DeletionRequest.Origin.TERMINATION
    assert request.status == Status.SCHEDULED
    assert request.verification_method == "company_decision"
    grace = dt.timedelta(days=settings.PORTAL_TERMINATION_PURGE_DAYS)
    assert abs(request.purge_after - (termination.terminated_at + grace)) < dt.timedelta(seconds=1)
    assert termination.purge_after == request.purge_after
    assert termination.terminated_by_id == member.pk
    assert termination.reason_category == "abuse" and termination.reason == "abusive traffic"
    assert task_queue.purges == []  # not now: the sweeper starts it when due
    assert list(
        AuditEvent.objects.filter(deletion_request=request).values_list("action", "actor_id")
    ) == [
        ("requested", member.pk),
        ("verified", member.pk),
        ("account_closed", member.pk),
        ("scheduled", member.pk),
        ("terminated", member.pk),
    ]
    assert NOTICE not in repr(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_account_without_a_verified_address_is_told_in_app_only(
    task_queue, mailoutbox, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    EmailAddress.objects.filter(user=user).update(verified=False)
    client = admin_client(make_support_member())
    terminate_in_admin(client, user, django_capture_on_commit_callbacks)
    assert mailoutbox == []
    assert Termination.objects.get(user_id=user.pk).notice_emailed_at is None
    assert NOTICE in try_sign_in(user).text


def test_a_notice_mail_that_fails_leaves_the_termination_standing_and_unmarked(
    task_queue, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    """The notice goes after commit: a mail server that refuses it cannot undo the
    termination, the record shows it was not mailed, and the person reads it at sign-in."""

    def mail_server_down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(privacy_mail.EmailMessage, "send", mail_server_down)
    user = TraceableUserFactory()
    response = terminate_in_admin(
        admin_client(make_support_member()), user, django_capture_on_commit_callbacks
    )

    assert "is terminated" in " ".join(messages_of(response))
    termination = Termination.objects.get(user_id=user.pk)
    assert termination.notice_emailed_at is None and mailoutbox == []
    user.refresh_from_db()
    assert not user.is_active
    assert NOTICE in try_sign_in(user).text


def test_terminated_accounts_data_is_purged_after_the_grace_period(
    task_queue, run_purge, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    prompt = unique_marker("prompt")
    ingest_numbered(ApiKeyFactory(user=user), count=4, prompt=prompt)
    user_id = user.pk
    terminate_in_admin(
        admin_client(make_support_member()), user, django_capture_on_commit_callbacks
    )
    termination = Termination.objects.get(user_id=user_id)
    request = termination.deletion_request
    mailoutbox.clear()

    # Within the grace period: nothing starts, even a message that arrives early.
    in_the_future(monkeypatch, settings.PORTAL_TERMINATION_PURGE_DAYS - 1)
    assert do_sweep_deletion_requests().scheduled == []
    task_queue.purges.append({"request_id": request.pk, "claim": None, "chunk": 0})
    run_purge()
    assert DeletionRequest.objects.get(pk=request.pk).status == Status.SCHEDULED
    assert User.objects.filter(pk=user_id).exists()

    # After it: the sweeper starts the purge.
    in_the_future(monkeypatch, settings.PORTAL_TERMINATION_PURGE_DAYS + 1)
    assert do_sweep_deletion_requests().scheduled == [request.pk]
    run_purge()

    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert not User.objects.filter(pk=user_id).exists()
    assert not Generation.objects.filter(prompt__contains=prompt).exists()
    # The termination stays as a record of a company action, without the person.
    termination.refresh_from_db()
    assert termination.user_id is None
    assert termination.reason == termination.notice_text == ""
    assert termination.reason_category == "abuse"
    kept = {item["kind"]: item["count"] for item in request.receipt["kept"]}
    assert kept == {"logging_prefs.generation": 4, "privacy.termination": 1}
    assert [m.subject for m in mailoutbox] == ["[Portal] Your account has been deleted"]
    assert "record that we terminated the account is kept" in mailoutbox[0].body


def test_legal_hold_stops_the_purge(
    task_queue, run_purge, monkeypatch, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    user_id = user.pk
    terminate_in_admin(
        admin_client(make_support_member()), user, django_capture_on_commit_callbacks
    )
    termination = Termination.objects.get(user_id=user_id)
    hold_url = f"/admin/privacy/termination/{termination.pk}/legal-hold/"
    # Support cannot set one: a legal decision.
    support = admin_client(make_support_member())
    assert support.get(f"/admin/privacy/termination/{termination.pk}/change/").status_code == 200
    assert support.post(hold_url, {"reason": "x"}).status_code == 403
    legal = make_superuser()
    client = admin_client(legal)
    assert hold_url in client.get(f"/admin/privacy/termination/{termination.pk}/change/").text
    # A reason is required.
    assert "errorlist" in client.post(hold_url, {"reason": " "}).text
    termination.refresh_from_db()
    assert not termination.legal_hold

    response = client.post(hold_url, {"reason": "Preservation order, case 42"}, follow=True)
    assert "set: the purge will not start" in " ".join(messages_of(response))
    termination.refresh_from_db()
    assert termination.legal_hold and termination.legal_hold_changed_by_id == legal.pk
    request = termination.deletion_request
    request.refresh_from_db()
    assert request.held

    # Past the grace period: the sweeper leaves it, and a message already queued is dropped.
    in_the_future(monkeypatch, settings.PORTAL_TERMINATION_PURGE_DAYS + 5)
    assert do_sweep_deletion_requests().scheduled == []
    task_queue.purges.append({"request_id": request.pk, "claim": None, "chunk": 0})
    run_purge()
    request.refresh_from_db()
    assert request.status == Status.SCHEDULED
    assert User.objects.filter(pk=user_id).exists()

    # Lifted: the purge starts at once (the grace period is over) and completes.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(hold_url, {"reason": "Order withdrawn"}, follow=True)
    assert "lifted: the purge goes ahead" in " ".join(messages_of(response))
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]
    run_purge()
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and not request.held
    assert not User.objects.filter(pk=user_id).exists()
    actions = list(
        AuditEvent.objects.filter(target=termination.target).values_list("action", flat=True)
    )
    assert actions == ["terminated", "legal_hold_set", "legal_hold_lifted"]

    # Once the purge ran, a hold is refused with a message, nothing changes.
    response = client.post(hold_url, {"reason": "too late"}, follow=True)
    assert "a legal hold applies only before the purge starts" in " ".join(messages_of(response))
    termination.refresh_from_db()
    assert not termination.legal_hold


def test_termination_bad_inputs_change_nothing(
    task_queue, mailoutbox, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    other = TraceableUserFactory()
    member = make_support_member()
    client = admin_client(member)
    form_url = f"/admin/accounts/user/{user.pk}/terminate/"

    for data in (
        {"reason_category": "abuse", "reason": "", "notice_text": NOTICE},
        {"reason_category": "abuse", "reason": "spam", "notice_text": "   "},
        {"reason_category": "made-up", "reason": "spam", "notice_text": NOTICE},
        {},
    ):
        response = client.post(form_url, data)
        assert response.status_code == 200
        assert "errorlist" in response.text, data
    # Two accounts at once: refused, one at a time.
    response = user_list_action(client, "terminate_account", user, other, follow=True)
    assert "Select exactly one account" in " ".join(messages_of(response))
    # One's own account.
    response = client.post(
        f"/admin/accounts/user/{member.pk}/terminate/",
        {"reason_category": "other", "reason": "x", "notice_text": "y"},
        follow=True,
    )
    assert "cannot terminate your own account" in " ".join(messages_of(response))
    for person in (user, other, member):
        person.refresh_from_db()
        assert person.is_active
    assert not Termination.objects.exists() and mailoutbox == []

    # Terminating twice: the second is refused with a message.
    terminate_in_admin(client, user, django_capture_on_commit_callbacks)
    response = terminate_in_admin(client, user, django_capture_on_commit_callbacks)
    assert "already being deleted" in " ".join(messages_of(response))
    assert Termination.objects.filter(user_id=user.pk).count() == 1
    # Staff without the permission see no action and get 403 on the page.
    staff = TraceableUserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    no_perm = admin_client(staff)
    assert no_perm.get(f"/admin/accounts/user/{other.pk}/terminate/").status_code == 403


def test_termination_takes_over_the_persons_own_open_request_and_keeps_its_date(
    task_queue, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    own = do_request_deletion(user=user, acting_user=user, scope="account", origin="user")
    staff = make_support_member()
    with django_capture_on_commit_callbacks(execute=True):
        termination = do_terminate_account(
            user=user,
            acting_user=staff,
            reason_category="terms_breach",
            reason="resold keys",
            notice_text=NOTICE,
        )
    assert termination.deletion_request_id == own.pk
    own.refresh_from_db()
    assert own.status == Status.SCHEDULED
    assert own.purge_after == own.due_at == termination.purge_after
