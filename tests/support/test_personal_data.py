"""Tickets are personal data (support/personal_data.py): a person's tickets (filed
signed in, or with an address their account verified) are in their data download and
erased with their account; a staff member's id on a ticket is forgotten with theirs."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress

from privacy import registry
from privacy.deletion.account import do_delete_account
from privacy.models import DeletionRequest
from support.actions import do_answer_ticket, do_convert_ticket, do_file_ticket
from support.models import Ticket
from tests.factories.accounts import TraceableUserFactory
from tests.helpers.admin import make_support_member
from tests.helpers.privacy import exported

pytestmark = pytest.mark.django_db


def file(email: str, user=None, kind: str = "question") -> Ticket:
    return do_file_ticket(kind=kind, email=email, message=f"from {email}", user=user)


def test_tickets_are_in_the_registry():
    assert Ticket in registry.registered_models()
    (entry,) = [e for e in registry.entries() if e.model is Ticket]
    assert entry.how == "delete"
    # Found through the account's addresses, so erased before them.
    order = [e.model for e in registry.entries()]
    assert order.index(Ticket) < order.index(EmailAddress)


def test_a_persons_tickets_are_in_their_download_and_nobody_elses():
    person, other = TraceableUserFactory(), TraceableUserFactory()
    EmailAddress.objects.create(user=person, email="second@example.com", verified=True)
    EmailAddress.objects.create(user=person, email="unproven@example.com", verified=False)
    signed_in = file("whatever@example.com", user=person)
    by_address = file(person.email.upper())
    by_second = file("second@example.com")
    file("unproven@example.com")  # an address the account never proved is not its
    file(other.email)
    file("stranger@example.com")

    records = exported(person)["records"]["support.ticket"]

    assert sorted(row["id"] for row in records) == sorted(
        [signed_in.pk, by_address.pk, by_second.pk]
    )
    row = next(row for row in records if row["id"] == signed_in.pk)
    assert row["message"] == "from whatever@example.com"
    assert row["kind"] == "question"


def test_a_persons_tickets_are_erased_with_their_account_and_the_request_stays(
    run_purge, django_capture_on_commit_callbacks
):
    person, other = TraceableUserFactory(), TraceableUserFactory()
    staff = make_support_member()
    asked = file(person.email, kind="delete_account")
    with django_capture_on_commit_callbacks(execute=True):
        opened = do_convert_ticket(ticket=asked, acting_user=staff, account=person)
    signed_in = file("elsewhere@example.com", user=person)
    others = [file(other.email), file("stranger@example.com")]

    with django_capture_on_commit_callbacks(execute=True):
        request = do_delete_account(user=person, acting_user=person)
    run_purge()

    request.refresh_from_db()
    assert request.status == DeletionRequest.Status.COMPLETED
    assert not Ticket.objects.filter(pk__in=[asked.pk, signed_in.pk]).exists()
    assert set(Ticket.objects.values_list("pk", flat=True)) == {t.pk for t in others}
    assert request.receipt["erased"]["deleted"]["support.ticket"] == 2
    # The request the ticket opened outlives it (a kept record).
    assert DeletionRequest.objects.filter(pk=opened.pk).exists()


def test_a_staff_members_id_on_tickets_is_forgotten_with_their_account(
    run_purge, django_capture_on_commit_callbacks
):
    staff = make_support_member()
    person = TraceableUserFactory()
    ticket = file("writer@example.com", kind="delete_prompts")
    do_answer_ticket(ticket=ticket, acting_user=staff, answer="On it.")
    with django_capture_on_commit_callbacks(execute=True):
        do_convert_ticket(ticket=ticket, acting_user=staff, account=person)

    with django_capture_on_commit_callbacks(execute=True):
        do_delete_account(user=staff, acting_user=staff)
    run_purge()

    ticket.refresh_from_db()
    assert (ticket.answered_by_id, ticket.converted_by_id) == (None, None)
    assert ticket.answer == "On it."
