"""The daily clean-up of what sign-ins leave behind once it can no longer be used:
expired sessions, the session list's records of sessions that no longer exist (each an
IP address and a browser), unverified addresses whose confirmation link expired, and
expired email-confirmation keys. Django and allauth keep them until something deletes
them; beat runs this daily (accounts/schedules.py, accounts.tasks)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from allauth.account.models import EmailConfirmation
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actions import do_forget_unconfirmed_addresses

_ROW_SESSION_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}
# Expired sign-in records are deleted in batches of this many rows, one transaction
# each, so the daily clean-up never holds long locks on the sessions table.
EXPIRED_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class ExpiredSignIns:
    sessions: int
    session_records: int
    email_confirmations: int
    unconfirmed_addresses: int = 0


def do_clear_expired_sign_in_records(*, now: dt.datetime | None = None) -> ExpiredSignIns:
    """Delete what a sign-in leaves behind once it can no longer be used: expired
    sessions, the session list's records of sessions that no longer exist (each holds
    an IP address and a browser), and expired email-confirmation keys. Django and
    allauth keep them until something deletes them; this runs daily (beat).

    Idempotent; safe beside sign-ins (a live session is never touched).
    Side effects: deletes rows of Session, UserSession and EmailConfirmation; first
    removes lapsed unverified addresses (do_forget_unconfirmed_addresses, with its own
    side effects).
    """
    from django.contrib.sessions.models import Session

    now = now or timezone.now()
    sessions = _delete_in_batches(Session.objects.filter(expire_date__lt=now))
    session_records = 0
    # The session list's records are matched against session rows, which only the
    # database engines keep (with another engine every record would look dead).
    if settings.SESSION_ENGINE in _ROW_SESSION_ENGINES:
        live = Session.objects.filter(expire_date__gte=now).values("session_key")
        session_records = _delete_in_batches(UserSession.objects.exclude(session_key__in=live))
    # First the unverified addresses whose last link expired: their expired
    # confirmation is how they are found.
    unconfirmed_addresses = do_forget_unconfirmed_addresses(now=now)
    confirmation_days = settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS
    cutoff = now - dt.timedelta(days=confirmation_days)
    email_confirmations = _delete_in_batches(
        EmailConfirmation.objects.filter(
            Q(sent__lt=cutoff) | Q(sent__isnull=True, created__lt=cutoff)
        )
    )
    return ExpiredSignIns(
        sessions=sessions,
        session_records=session_records,
        email_confirmations=email_confirmations,
        unconfirmed_addresses=unconfirmed_addresses,
    )


def _delete_in_batches(queryset) -> int:
    deleted = 0
    model = queryset.model
    while True:
        with transaction.atomic():
            keys = list(queryset.values_list("pk", flat=True)[:EXPIRED_BATCH_ROWS])
            if not keys:
                return deleted
            model.objects.filter(pk__in=keys).delete()
        deleted += len(keys)
