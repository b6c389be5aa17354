"""The support tickets' state changes: filing one from /contact/, answering it by mail,
turning it into the deletion request or under-13 report it asks for
(support/README.md). Keyword-only, `acting_user` for staff, one transaction each."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from privacy.deletion.requests import do_request_deletion
from privacy.models import DeletionRequest
from privacy.termination.under_13 import do_report_under_13
from support import mail
from support.errors import TicketError
from support.models import TICKET_DUE_AFTER, Ticket

logger = logging.getLogger(__name__)

Kind = Ticket.Kind
Status = Ticket.Status


def _send_confirmation(ticket_id: int) -> None:
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    try:
        mail.send(
            "ticket_received", {"ticket": ticket, "due_days": TICKET_DUE_AFTER.days}, ticket.email
        )
    except OSError:
        # The ticket is filed either way; the person saw the same page as anyone.
        logger.exception("the confirmation of ticket %s could not be sent", ticket_id)


@transaction.atomic
def do_file_ticket(*, kind: str, email: str, message: str, user: User | None) -> Ticket:
    """File a ticket from /contact/ and, once committed, mail a confirmation to `email`.

    The confirmation is the same whether or not an account holds the address: it says
    what was received, never whether there is an account. `user` is the account signed
    in when the ticket was filed (None for a visitor).
    Side effects: inserts a Ticket; sends one mail after commit (a mail that cannot be
    sent is logged, and the ticket stays filed).
    Raises ValueError for an unknown kind, an empty or over-long message or address.
    """
    if kind not in Kind.values:
        raise ValueError(f"unknown kind: {kind}")
    email = email.strip().lower()
    message = message.strip()
    if not email or len(email) > Ticket._meta.get_field("email").max_length:
        raise ValueError("an address of at most 254 characters is needed")
    if not message or len(message) > Ticket.MESSAGE_MAX_LENGTH:
        raise ValueError(f"a message of 1 to {Ticket.MESSAGE_MAX_LENGTH} characters is needed")
    now = timezone.now()
    ticket = Ticket.objects.create(
        kind=kind,
        email=email,
        message=message,
        user=user if user is not None and user.is_authenticated else None,
        received_at=now,
        due_at=now + TICKET_DUE_AFTER,
    )
    transaction.on_commit(functools.partial(_send_confirmation, ticket.pk), robust=True)
    return ticket


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


@transaction.atomic
def do_answer_ticket(*, ticket: Ticket, acting_user: User, answer: str) -> Ticket:
    """Mail support's answer to the ticket's address and record it on the ticket.

    The mail is sent inside the transaction (as a rejection's is): if it cannot go out,
    nothing is recorded and support sees the error. A ticket is answered once here;
    the exchange goes on by mail (every mail's Reply-To is the support address).
    Side effects: updates the ticket (an open one becomes ANSWERED); sends one mail.
    Raises TicketError for a ticket already answered, ValueError for an empty or
    over-long answer.
    """
    answer = answer.strip()
    if not answer:
        raise ValueError("an answer cannot be empty")
    if len(answer) > Ticket.ANSWER_MAX_LENGTH:
        raise ValueError(f"an answer has at most {Ticket.ANSWER_MAX_LENGTH} characters")
    ticket = _locked(ticket)
    if ticket.answered_at is not None:
        raise TicketError(f"{ticket} was answered already; go on by mail")
    mail.send("ticket_answer", {"ticket": ticket, "answer": answer}, ticket.email)
    ticket.answer = answer
    ticket.answered_at = timezone.now()
    ticket.answered_by_id = acting_user.pk
    if ticket.status == Status.OPEN:
        ticket.status = Status.ANSWERED
    ticket.save(update_fields=["answer", "answered_at", "answered_by_id", "status"])
    return ticket


@transaction.atomic
def do_convert_ticket(*, ticket: Ticket, acting_user: User, account: User) -> DeletionRequest:
    """Turn the ticket into what it asks for, about `account` (found by support from a
    confirmed address, as for any request someone writes in with), and link the two:

    - "delete my stored prompts" / "delete my account": a deletion request of that scope,
      origin SUPPORT, waiting for verification (privacy.deletion.requests);
    - "a child under 13": the under-13 report, which closes and erases the account at
      once (privacy.termination.under_13).

    The privacy actions apply their own rules and audit events: support cannot act on a
    staff or superuser account, an under-13 report on a held account is refused, an
    open account deletion is reused rather than doubled.
    Side effects: those of the privacy action; updates the ticket (CONVERTED).
    Raises TicketError for a kind with nothing to open or a ticket already converted;
    what the privacy action raises (ForbiddenStep, TerminationError, ValueError).
    """
    ticket = _locked(ticket)
    if ticket.kind not in Ticket.CONVERTIBLE:
        raise TicketError(f"{ticket.get_kind_display().lower()} opens no request: answer it")
    if ticket.deletion_request_id is not None:
        raise TicketError(f"{ticket} was turned into request #{ticket.deletion_request_id}")
    if ticket.kind == Kind.UNDER_13:
        request = do_report_under_13(user=account, acting_user=acting_user, note=f"{ticket}")
    else:
        request = do_request_deletion(
            user=account,
            acting_user=acting_user,
            scope=Ticket.DELETION_SCOPES[Kind(ticket.kind)],
            origin=DeletionRequest.Origin.SUPPORT,
        )
    ticket.deletion_request = request
    ticket.converted_at = timezone.now()
    ticket.converted_by_id = acting_user.pk
    ticket.status = Status.CONVERTED
    ticket.save(update_fields=["deletion_request", "converted_at", "converted_by_id", "status"])
    return request


# Rows deleted per statement: each chunk is its own short transaction.
TICKET_RETENTION_CHUNK = 1000


def do_delete_closed_tickets(*, now=None, chunk_size: int = TICKET_RETENTION_CHUNK) -> int:
    """Delete the tickets closed (answered or turned into a request) more than
    PORTAL_TICKET_RETENTION_DAYS ago, whoever sent them; returns how many went.

    Open tickets stay, however old: support still owes them an answer (the admin lists
    them as overdue). A request opened from a ticket is not touched: it outlives the
    ticket with its own record. Chunks of `chunk_size` rows, each committed, so a run
    that stops half way has deleted whole tickets and the next run goes on.
    """
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.PORTAL_TICKET_RETENTION_DAYS)
    closed_before = Q(status=Status.ANSWERED, answered_at__lt=cutoff) | Q(
        status=Status.CONVERTED, converted_at__lt=cutoff
    )
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Ticket.objects.filter(closed_before)
                .order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:chunk_size]
            )
            if not ids:
                break
            count, _ = Ticket.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < chunk_size:
            break
    if deleted:
        logger.info("support tickets past retention deleted: %d", deleted)
    return deleted
