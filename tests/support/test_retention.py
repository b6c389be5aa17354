"""Support keeps a ticket for PORTAL_TICKET_RETENTION_DAYS after closing it: the nightly
task deletes older closed tickets, whoever sent them, in chunks; open ones stay."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from privacy.models import DeletionRequest
from support.actions import do_delete_closed_tickets, do_file_ticket
from support.models import Ticket
from support.tasks import delete_closed_tickets
from tests.factories.privacy import DeletionRequestFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status


def ticket(status: str, closed_days_ago: int | None, **fields) -> Ticket:
    filed = do_file_ticket(
        kind=Ticket.Kind.QUESTION, email="writer@example.com", message="Hello?", user=None
    )
    when = None if closed_days_ago is None else timezone.now() - dt.timedelta(closed_days_ago)
    changes = {"status": status}
    if status == Status.ANSWERED:
        changes |= {"answer": "Hi.", "answered_at": when}
    if status == Status.CONVERTED:
        changes |= {"converted_at": when}
    changes |= fields
    Ticket.objects.filter(pk=filed.pk).update(**changes)
    return filed


def test_closed_tickets_past_retention_go_and_the_others_stay(settings):
    settings.PORTAL_TICKET_RETENTION_DAYS = 365
    old_answered = ticket(Status.ANSWERED, 366)
    recent_answered = ticket(Status.ANSWERED, 364)
    old_converted = ticket(Status.CONVERTED, 400)
    ancient_open = ticket(Status.OPEN, None, received_at=timezone.now() - dt.timedelta(900))

    assert do_delete_closed_tickets() == 2

    kept = set(Ticket.objects.values_list("pk", flat=True))
    assert kept == {recent_answered.pk, ancient_open.pk}
    assert old_answered.pk not in kept and old_converted.pk not in kept
    # Nothing left to do: a second run deletes nothing.
    assert do_delete_closed_tickets() == 0


def test_the_retention_follows_the_setting(settings):
    answered = ticket(Status.ANSWERED, 40)
    settings.PORTAL_TICKET_RETENTION_DAYS = 60
    assert do_delete_closed_tickets() == 0
    settings.PORTAL_TICKET_RETENTION_DAYS = 30
    assert do_delete_closed_tickets() == 1
    assert not Ticket.objects.filter(pk=answered.pk).exists()


def test_it_deletes_in_chunks_until_done(settings):
    settings.PORTAL_TICKET_RETENTION_DAYS = 10
    for _ in range(7):
        ticket(Status.ANSWERED, 11)
    assert do_delete_closed_tickets(chunk_size=3) == 7
    assert not Ticket.objects.exists()


def test_a_request_opened_from_a_ticket_outlives_it(settings):
    settings.PORTAL_TICKET_RETENTION_DAYS = 10
    request = DeletionRequestFactory()
    ticket(Status.CONVERTED, 11, deletion_request=request)
    assert do_delete_closed_tickets() == 1
    assert DeletionRequest.objects.filter(pk=request.pk).exists()


def test_the_task_runs_nightly_and_calls_the_action(settings):
    settings.PORTAL_TICKET_RETENTION_DAYS = 10
    ticket(Status.ANSWERED, 11)
    entry = settings.CELERY_BEAT_SCHEDULE["delete-closed-tickets"]
    assert entry["task"] == delete_closed_tickets.name
    assert delete_closed_tickets.run() == 1
    assert not Ticket.objects.exists()
