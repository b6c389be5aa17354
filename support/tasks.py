"""Celery tasks of support: thin wrappers that call actions."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from support.actions import do_delete_closed_tickets


# A lost database connection is worth a few quick retries; a run that still fails is
# done again by the next night's.
@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def delete_closed_tickets() -> int:
    """Beat: delete the tickets closed longer ago than support keeps them."""
    return do_delete_closed_tickets()
