"""Celery tasks of identity: thin wrappers that call actions."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from accounts.sign_in_records import do_clear_expired_sign_in_records

# A lost database connection (failover, restart) is worth a few quick retries; a run
# that still fails is done again by the next day's.
_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(acks_late=True, **_RETRY)
def clear_expired_sign_in_records() -> dict[str, int]:
    """Beat: delete expired sessions, their records and expired confirmation keys."""
    result = do_clear_expired_sign_in_records()
    return {
        "sessions": result.sessions,
        "session_records": result.session_records,
        "email_confirmations": result.email_confirmations,
        "unconfirmed_addresses": result.unconfirmed_addresses,
    }


# The task's name before it moved here from privacy: beat's messages published under it
# before a deploy (they expire after 12 hours, accounts/schedules.py) still run. Remove
# it once a release with the new name has been deployed for a day.
@shared_task(name="privacy.tasks.clear_expired_sign_in_records", acks_late=True, **_RETRY)
def clear_expired_sign_in_records_by_its_old_name() -> dict[str, int]:
    return clear_expired_sign_in_records()
