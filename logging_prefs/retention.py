"""Retention expiry: stored prompt and completion text is kept for
PORTAL_PROMPT_RETENTION_DAYS, then removed, whatever its owner's settings allow now
(logging_prefs.eligibility: withdrawing permission stops use, not storage; text past
the cutoff is never used, even before it is expired). The generation row itself (model,
tokens, cost, time) is billing data and stays; its text_state becomes "expired".

A nightly task (tasks.expire_stored_text) fixes the cutoff once and works through the
expired rows one chunk at a time, each chunk its own short transaction: a single
UPDATE over a month of text would hold row locks for minutes, block the gateway's
ingestion behind it, and redo everything after a failure.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet

from logging_prefs.eligibility import retention_cutoff
from logging_prefs.models import Generation

__all__ = ["do_expire_stored_text", "retention_cutoff", "stored_text_older_than"]


def stored_text_older_than(cutoff: dt.datetime) -> QuerySet[Generation]:
    # The partial index gen_stored_created (created_at WHERE text_state = 'stored')
    # holds exactly these rows, so this stays an index range scan however large the
    # table of expired and never-logged rows grows.
    return Generation.objects.filter(text_state=Generation.TextState.STORED, created_at__lt=cutoff)


def do_expire_stored_text(*, older_than: dt.datetime, batch_size: int) -> int:
    """Expire the text of up to `batch_size` generations created before `older_than`.

    Idempotent: a row is expired once; running again finds nothing new.
    Side effects, in one transaction: sets prompt and completion to NULL and text_state
    to "expired" on the chunk; every other column (billing metadata) is kept. Returns
    how many generations were expired.
    """
    with transaction.atomic():
        ids = list(
            stored_text_older_than(older_than)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        # text_state is checked again: a row deleted at the user's request between the
        # SELECT and the UPDATE keeps its "deleted" state.
        return Generation.objects.filter(id__in=ids, text_state=Generation.TextState.STORED).update(
            prompt=None, completion=None, text_state=Generation.TextState.EXPIRED
        )
