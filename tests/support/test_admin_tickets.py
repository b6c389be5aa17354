"""Support staff and tickets in the admin: the list with the time left to answer, an
answer by mail recorded on the ticket, and a ticket turned into the deletion request or
under-13 report it asks for, through the privacy actions and their rules for staff."""

from __future__ import annotations

import datetime as dt

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone

from accounts.models import User
from privacy.models import AuditEvent, DeletionRequest
from support import mail as support_mail
from support.actions import do_file_ticket
from support.models import Ticket
from tests.factories.accounts import TraceableUserFactory
from tests.helpers.admin import (
    admin_client,
    make_superuser,
    make_support_member,
    messages_of,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/support/ticket/"


def url(ticket: Ticket, step: str = "change") -> str:
    return f"{LIST}{ticket.pk}/{step}/"


def ticket_of(kind: str, email: str = "writer@example.com", user: User | None = None) -> Ticket:
    return do_file_ticket(kind=kind, email=email, message=f"Please: {kind}.", user=user)


def trail(request: DeletionRequest) -> list[tuple[str, int | None]]:
    return list(
        AuditEvent.objects.filter(deletion_request=request)
        .order_by("id")
        .values_list("action", "actor_id")
    )


def test_the_support_group_sees_and_processes_tickets_and_nobody_deletes_one():
    member = make_support_member()
    assert member.has_perm("support.view_ticket")
    assert member.has_perm("support.change_ticket")
    assert not member.has_perm("support.delete_ticket")
    assert not member.has_perm("support.add_ticket")
    ticket = ticket_of("question")
    client = admin_client(make_superuser())
    assert client.get(url(ticket, "delete")).status_code in (302, 403)
    assert client.post(url(ticket, "delete"), {"post": "yes"}).status_code in (302, 403)
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_the_list_shows_the_days_left_and_filters_the_overdue():
    fresh = ticket_of("question")
    late = ticket_of("appeal")
    Ticket.objects.filter(pk=late.pk).update(
        received_at=timezone.now() - dt.timedelta(days=32),
        due_at=timezone.now() - dt.timedelta(days=2, hours=1),
    )
    client = admin_client(make_support_member())
    listing = client.get(LIST)
    assert listing.status_code == 200
    rows = {row.pk: row for row in listing.context["cl"].result_list}
    assert set(rows) == {fresh.pk, late.pk}
    admin = listing.context["cl"].model_admin
    assert admin.days_left(rows[fresh.pk]) == "29"
    assert admin.days_left(rows[late.pk]) == "-3 (overdue)"
    assert "-3 (overdue)" in listing.text
    overdue = client.get(f"{LIST}?overdue=yes")
    assert [t.pk for t in overdue.context["cl"].result_list] == [late.pk]
    # The message is read on the ticket's page; nothing there can be edited.
    page = client.get(url(fresh))
    assert "Please: question." in page.text
    assert "writer@example.com" in page.text
    assert 'name="message"' not in page.text


def test_support_answers_a_ticket_by_mail_and_it_is_recorded():
    member = make_support_member()
    ticket = ticket_of("appeal")
    client = admin_client(member)
    assert url(ticket, "answer") in client.get(url(ticket)).text
    mail.outbox.clear()

    response = client.post(url(ticket, "answer"), {"answer": "  We looked again.  "}, follow=True)

    assert response.redirect_chain[-1][0] == url(ticket)
    assert "is answered" in " ".join(messages_of(response))
    (sent,) = mail.outbox
    assert sent.to == ["writer@example.com"]
    assert sent.body.startswith("We looked again.")
    assert str(ticket) in sent.subject
    ticket.refresh_from_db()
    assert ticket.answer == "We looked again."
    assert ticket.answered_by_id == member.pk
    assert ticket.answered_at is not None
    assert ticket.status == Ticket.Status.ANSWERED
    # Once: the exchange goes on by mail. The step is no longer offered, and refused.
    assert url(ticket, "answer") not in client.get(url(ticket)).text
    again = client.get(url(ticket, "answer"), follow=True)
    assert "answered already" in " ".join(messages_of(again))
    again = client.post(url(ticket, "answer"), {"answer": "Twice"}, follow=True)
    assert "Nothing was changed" in " ".join(messages_of(again))
    assert len(mail.outbox) == 1
    ticket.refresh_from_db()
    assert ticket.answer == "We looked again."


@pytest.mark.parametrize("answer", ["", "   ", "x" * (Ticket.ANSWER_MAX_LENGTH + 1)])
def test_a_bad_answer_is_a_form_error(answer):
    ticket = ticket_of("question")
    client = admin_client(make_support_member())
    mail.outbox.clear()
    response = client.post(url(ticket, "answer"), {"answer": answer})
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert "Nothing was changed" in " ".join(messages_of(client.get(response["Location"])))
    else:
        assert response.context["form"].errors
    assert mail.outbox == []
    ticket.refresh_from_db()
    assert ticket.answered_at is None


def test_an_answer_that_cannot_be_mailed_is_not_recorded(monkeypatch):
    ticket = ticket_of("question")
    client = admin_client(make_support_member())

    def broken(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(support_mail, "send", broken)
    response = client.post(url(ticket, "answer"), {"answer": "Hello"}, follow=True)
    assert "could not be sent" in " ".join(messages_of(response))
    ticket.refresh_from_db()
    assert (ticket.answer, ticket.answered_at, ticket.status) == ("", None, "open")


@pytest.mark.parametrize(
    ("kind", "scope"), [("delete_prompts", "prompts"), ("delete_account", "account")]
)
def test_support_turns_a_deletion_ticket_into_its_request_in_one_step(kind, scope):
    person = TraceableUserFactory()
    member = make_support_member()
    ticket = ticket_of(kind, email=person.email)
    client = admin_client(member)
    page = client.get(url(ticket))
    assert url(ticket, "convert") in page.text
    assert "Open the deletion request" in page.text
    # The step's page fills in the ticket's address.
    assert f'value="{person.email}"' in client.get(url(ticket, "convert")).text

    response = client.post(url(ticket, "convert"), {"address": person.email}, follow=True)

    request = DeletionRequest.objects.get(user_id=person.pk)
    assert response.redirect_chain[-1][0] == f"/admin/privacy/deletionrequest/{request.pk}/change/"
    assert (request.scope, request.origin, request.status) == (scope, "support", "received")
    assert request.received_by_id == member.pk
    assert trail(request) == [("requested", member.pk)]
    ticket.refresh_from_db()
    assert ticket.deletion_request == request
    assert ticket.status == Ticket.Status.CONVERTED
    assert ticket.converted_by_id == member.pk
    person.refresh_from_db()
    assert person.is_active  # nothing happens before verification
    # The ticket links to its request; it cannot open a second one.
    page = client.get(url(ticket))
    assert f"/admin/privacy/deletionrequest/{request.pk}/change/" in page.text
    assert url(ticket, "convert") not in page.text
    again = client.post(url(ticket, "convert"), {"address": person.email}, follow=True)
    assert "Nothing was changed" in " ".join(messages_of(again)) or "Cannot convert" in " ".join(
        messages_of(again)
    )
    assert DeletionRequest.objects.filter(user_id=person.pk).count() == 1


def test_a_request_is_opened_only_for_an_address_an_account_confirmed():
    squatter = TraceableUserFactory()
    EmailAddress.objects.create(user=squatter, email="held@example.com", verified=False)
    client = admin_client(make_support_member())
    for address in ("held@example.com", "nobody@example.com", "not an address"):
        ticket = ticket_of("delete_account", email="held@example.com")
        response = client.post(url(ticket, "convert"), {"address": address})
        assert response.status_code == 200
        assert response.context["form"].errors["address"]
        ticket.refresh_from_db()
        assert ticket.deletion_request is None
    assert not DeletionRequest.objects.exists()


def test_support_cannot_turn_a_ticket_against_a_staff_or_superuser_account():
    member = make_support_member()
    client = admin_client(member)
    for target in (make_support_member(), make_superuser()):
        for kind in ("delete_account", "under_13"):
            ticket = ticket_of(kind, email=target.email)
            data = {"address": target.email, "confirm": "on"}
            response = client.post(url(ticket, "convert"), data, follow=True)
            assert "only a superuser" in " ".join(messages_of(response)), kind
            ticket.refresh_from_db()
            assert ticket.deletion_request is None and ticket.status == "open"
            target.refresh_from_db()
            assert target.is_active
    assert not DeletionRequest.objects.exists()
    # A superuser may.
    staff_target = make_support_member()
    ticket = ticket_of("delete_prompts", email=staff_target.email)
    response = admin_client(make_superuser()).post(
        url(ticket, "convert"), {"address": staff_target.email}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.deletion_request.user_id == staff_target.pk


def test_support_turns_an_under_13_report_into_the_report_after_confirming(
    django_capture_on_commit_callbacks,
):
    child = TraceableUserFactory()
    member = make_support_member()
    ticket = ticket_of("under_13", email="parent@example.com")
    client = admin_client(member)
    page = client.get(url(ticket))
    assert "Report as under 13" in page.text
    # The reporter's address is filled in: support gives the account's instead, and ticks.
    unticked = client.post(url(ticket, "convert"), {"address": child.email})
    assert unticked.status_code == 200
    assert "confirm" in unticked.context["form"].errors
    assert not DeletionRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=False):
        client.post(url(ticket, "convert"), {"address": child.email, "confirm": "on"})

    request = DeletionRequest.objects.get(user_id=child.pk)
    assert (request.origin, request.scope, request.status) == ("under_13", "account", "scheduled")
    ticket.refresh_from_db()
    assert ticket.deletion_request == request
    child.refresh_from_db()
    assert not child.is_active
    assert ("requested", member.pk) in trail(request)


def test_a_question_or_appeal_opens_no_request():
    person = TraceableUserFactory()
    client = admin_client(make_support_member())
    for kind in ("question", "appeal"):
        ticket = ticket_of(kind, email=person.email)
        assert url(ticket, "convert") not in client.get(url(ticket)).text
        response = client.get(url(ticket, "convert"), follow=True)
        assert "opens no request" in " ".join(messages_of(response))
        response = client.post(url(ticket, "convert"), {"address": person.email}, follow=True)
        assert "opens no request" in " ".join(messages_of(response))
    assert not DeletionRequest.objects.exists()


def test_steps_need_their_permissions():
    ticket = ticket_of("delete_account")
    # A visitor or a signed-in person who is not staff: the admin's sign-in.
    from django.test import Client

    for step in ("answer", "convert"):
        response = Client().get(url(ticket, step))
        assert response.status_code == 302 and "login" in response["Location"]
    # Staff who may only view tickets: no step.
    viewer = TraceableUserFactory()
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    viewer.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client = admin_client(User.objects.get(pk=viewer.pk))
    assert client.get(url(ticket)).status_code == 200
    for step in ("answer", "convert"):
        assert client.get(url(ticket, step)).status_code == 403
        assert client.post(url(ticket, step), {"answer": "x"}).status_code == 403
    # An unknown id: the admin's "does not exist".
    member = admin_client(make_support_member())
    response = member.get(f"{LIST}999999/answer/")
    assert response.status_code == 302
