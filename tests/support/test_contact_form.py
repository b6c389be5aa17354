"""/contact/: anyone files a ticket of a kind, signed in or not; the answer and the
confirmation mail are the same whether or not an account holds the address; bad input
is a form error, a flood a 429 with a clear message, never a 500."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from support.models import TICKET_DUE_AFTER, Ticket
from tests.factories.accounts import TraceableUserFactory

pytestmark = pytest.mark.django_db

CONTACT = "/contact/"


def tickets() -> list[Ticket]:
    return list(Ticket.objects.order_by("id"))


@pytest.mark.parametrize("kind", Ticket.Kind.values)
def test_a_visitor_files_a_ticket_of_each_kind_and_gets_a_confirmation(kind, contact_post):
    response = contact_post(Client(), kind=kind, email="Someone@Example.com", message=" Hi. ")
    assert response.status_code == 302
    assert response["Location"] == "/contact/sent/"
    (ticket,) = tickets()
    assert (ticket.kind, ticket.email, ticket.message, ticket.user) == (
        kind,
        "someone@example.com",
        "Hi.",
        None,
    )
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.due_at - ticket.received_at == TICKET_DUE_AFTER
    assert abs(ticket.received_at - timezone.now()) < dt.timedelta(minutes=1)
    (confirmation,) = mail.outbox
    assert confirmation.to == ["someone@example.com"]
    assert f"Ticket #{ticket.pk}" in confirmation.subject
    assert Ticket.Kind(kind).label in confirmation.body
    # Anyone can give any address: the confirmation never repeats what was written, so
    # the form cannot send a stranger's words to someone's inbox.
    assert "Hi." not in confirmation.body
    sent = Client().get("/contact/sent/")
    assert sent.status_code == 200
    assert b"confirmation" in sent.content


def test_a_signed_in_person_files_a_ticket_linked_to_their_account(contact_post):
    person = TraceableUserFactory()
    client = Client()
    client.force_login(person)
    page = client.get(CONTACT)
    # The address the account confirmed is filled in.
    assert f'value="{person.email}"'.encode() in page.content
    response = contact_post(client, kind="delete_prompts", email=person.email)
    assert response.status_code == 302
    (ticket,) = tickets()
    assert ticket.user == person
    assert ticket.kind == "delete_prompts"


def test_the_answer_is_the_same_whether_or_not_an_account_holds_the_address(contact_post):
    """No enumeration: the page, the redirect and the mail do not depend on the address
    having an account (only the address and the reference differ)."""
    person = TraceableUserFactory()
    answers = []
    for email in (person.email, "nobody-here@example.com"):
        mail.outbox.clear()
        client = Client()
        response = contact_post(client, kind="delete_account", email=email)
        sent = client.get(response["Location"])
        (confirmation,) = mail.outbox
        ticket = Ticket.objects.get(email=email)
        body = confirmation.body.replace(str(ticket), "REF")
        subject = confirmation.subject.replace(str(ticket), "REF")
        page = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", sent.content)
        answers.append((response.status_code, response["Location"], page, subject, body))
    assert answers[0] == answers[1]
    # A visitor's ticket is not linked to the account that holds the address.
    assert Ticket.objects.get(email=person.email).user is None


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"kind": "", "email": "a@example.com", "message": "x"}, "kind", "Choose what"),
        ({"kind": "refund", "email": "a@example.com", "message": "x"}, "kind", "Choose one"),
        ({"kind": "question", "email": "", "message": "x"}, "email", "Enter the address"),
        ({"kind": "question", "email": "not an address", "message": "x"}, "email", "valid"),
        ({"kind": "question", "email": "a" * 250 + "@example.com", "message": "x"}, "email", ""),
        ({"kind": "question", "email": "a@example.com", "message": ""}, "message", "Write"),
        ({"kind": "question", "email": "a@example.com", "message": "   "}, "message", "Write"),
        ({"kind": "question", "email": "a@example.com", "message": "x" * 5001}, "message", "5000"),
        ({"kind": "question", "email": "a@example.com", "message": "a\x00b"}, "message", ""),
        ({}, "kind", ""),
    ],
)
def test_bad_input_is_a_form_error_and_files_nothing(data, field, error):
    response = Client().post(CONTACT, data, REMOTE_ADDR="203.0.113.8")
    assert response.status_code == 200
    if field:
        assert field in response.context["form"].errors
        assert error in " ".join(response.context["form"].errors[field])
        assert b'aria-invalid="true"' in response.content or field == "kind"
    assert Ticket.objects.count() == 0
    assert mail.outbox == []


def test_the_longest_message_is_accepted(contact_post):
    assert contact_post(Client(), message="x" * Ticket.MESSAGE_MAX_LENGTH).status_code == 302
    assert len(tickets()[0].message) == Ticket.MESSAGE_MAX_LENGTH


def test_a_body_over_the_limit_is_a_400_page_and_files_nothing(contact_post):
    response = contact_post(Client(), message="x" * (3 * 1024 * 1024))
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


def test_the_form_needs_its_csrf_token(contact_post):
    client = Client(enforce_csrf_checks=True)
    response = contact_post(client)
    assert response.status_code == 403
    assert Ticket.objects.count() == 0
    page = client.get(CONTACT)
    token = page.context["csrf_token"]
    assert contact_post(client, csrfmiddlewaretoken=str(token)).status_code == 302


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_refused(method):
    assert getattr(Client(), method)(CONTACT).status_code == 405
    assert Client().post("/contact/sent/").status_code == 405


def test_a_flood_from_one_ip_is_refused_with_a_clear_message(contact_post):
    client = Client()
    for n in range(10):
        response = contact_post(client, email=f"p{n}@example.com", ip="198.51.100.1")
        assert response.status_code == 302, n
    mail.outbox.clear()
    response = contact_post(client, email="p10@example.com", ip="198.51.100.1")
    assert response.status_code == 429
    assert b"Too many messages" in response.content
    assert b'role="alert"' in response.content
    # What was typed stays in the form, so nothing is lost.
    assert b"p10@example.com" in response.content
    assert Ticket.objects.count() == 10
    assert mail.outbox == []
    # Bad input counts too: it cannot be used to go on probing.
    assert Client().post(CONTACT, {}, REMOTE_ADDR="198.51.100.1").status_code == 429
    # Another visitor is not held back.
    assert contact_post(client, email="p11@example.com", ip="198.51.100.2").status_code == 302


def test_a_flood_to_one_address_from_many_ips_is_refused(contact_post):
    for n in range(3):
        response = contact_post(Client(), email="target@example.com", ip=f"192.0.2.{n}")
        assert response.status_code == 302
    mail.outbox.clear()
    # Any spelling of the address counts as the address.
    response = contact_post(Client(), email="TARGET@example.com", ip="192.0.2.99")
    assert response.status_code == 429
    assert b"Too many messages" in response.content
    assert Ticket.objects.count() == 3
    assert mail.outbox == []


def test_the_limit_does_not_tell_whether_an_account_holds_the_address(contact_post):
    person = TraceableUserFactory()
    statuses = {}
    for email in (person.email, "nobody-else@example.com"):
        statuses[email] = [
            contact_post(Client(), email=email, ip=f"192.0.2.{n}").status_code for n in range(4)
        ]
    assert statuses[person.email] == statuses["nobody-else@example.com"] == [302, 302, 302, 429]


def test_a_confirmation_that_cannot_be_sent_still_files_the_ticket(monkeypatch, contact_post):
    from support import mail as support_mail

    def broken(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(support_mail, "send", broken)
    response = contact_post(Client())
    assert response.status_code == 302
    assert Ticket.objects.count() == 1


def test_filing_a_ticket_sets_no_cookie_the_cookie_page_does_not_list(contact_post):
    from privacy.cookies import cookies

    visitor = Client()
    visitor.get(CONTACT)
    contact_post(visitor)
    visitor.get("/contact/sent/")
    Client().post(CONTACT, {}, REMOTE_ADDR="203.0.113.9")  # with errors
    listed = {cookie.name for cookie in cookies()}
    assert set(visitor.cookies) <= listed, set(visitor.cookies) - listed
