"""Background work of prompt logging: retention expiry, anonymous categorisation and
the folding of old activity into daily totals.

Each task does one chunk and re-queues itself after commit while work remains, so a
chunk is a short transaction, a retry repeats one chunk, and a worker restart loses
nothing (acks_late: the message is acknowledged only after the chunk committed).
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from logging_prefs.categories import do_categorise_stored_prompts, has_uncategorised_prompts
from logging_prefs.folding import activity_cutoff_day, do_fold_old_activity
from logging_prefs.retention import (
    do_expire_stored_text,
    do_expire_text_past_chosen_retention,
    retention_cutoff,
    stored_text_older_than,
)

# 2,000 rows is one UPDATE of well under a second: small enough that a chunk never
# holds locks the gateway's ingestion would notice, large enough that a night's expiry
# (about a day of traffic) is a few hundred chunks.
EXPIRY_CHUNK_SIZE = 2_000
# Each prompt is read and classified while its owner's preference row is held (so an
# opt-out waits for at most one chunk): 500 prompts of up to 6,000 classified
# characters keep that wait well under a second.
CATEGORISATION_CHUNK_SIZE = 500
# Stored rows looked at per statement by the chosen-retention walk: like an expiry chunk,
# an UPDATE of at most this many rows, and a night's walk over a month of text is a few
# thousand short statements.
CHOSEN_EXPIRY_SCAN_SIZE = 2_000
# Generation rows (or daily-total rows) folded per chunk: one DELETE of this many rows
# with its few upserted totals, well under a second, like a purge chunk's statement.
FOLD_CHUNK_SIZE = 5_000

_RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**_RETRY)
def expire_stored_text(cutoff: str | None = None) -> int:
    """Expire one chunk of text older than the retention period, then re-queue.

    The cutoff is fixed by the first run and passed on as an ISO string, so a long run
    works towards one stable point instead of chasing the clock.
    """
    older_than = dt.datetime.fromisoformat(cutoff) if cutoff else retention_cutoff()
    expired = do_expire_stored_text(older_than=older_than, batch_size=EXPIRY_CHUNK_SIZE)
    # `expired` guards against spinning: a chunk that made no progress stops the chain
    # (tomorrow's run picks up whatever is left).
    if expired and stored_text_older_than(older_than).exists():
        next_cutoff = older_than.isoformat()
        transaction.on_commit(lambda: expire_stored_text.delay(next_cutoff))
    return expired


@shared_task(**_RETRY)
def expire_text_past_chosen_retention(
    now: str | None = None, after_at: str | None = None, after_id: int = 0
) -> int:
    """Expire the text of one chunk of the walk over stored text younger than the
    portal's period whose owner chose a shorter one (retention.py), then re-queue with
    the walk's position. `now` is fixed by the first run and passed on, like the
    cutoff of expire_stored_text."""
    moment = dt.datetime.fromisoformat(now) if now else timezone.now()
    after = (dt.datetime.fromisoformat(after_at), after_id) if after_at else None
    chunk = do_expire_text_past_chosen_retention(
        now=moment, after=after, batch_size=CHOSEN_EXPIRY_SCAN_SIZE
    )
    # The position only moves forwards, so the chain ends at the window's end.
    if chunk.position is not None:
        args = (moment.isoformat(), chunk.position[0].isoformat(), chunk.position[1])
        transaction.on_commit(lambda: expire_text_past_chosen_retention.delay(*args))
    return chunk.expired


@shared_task(**_RETRY)
def fold_old_activity(cutoff_day: str | None = None) -> int:
    """Fold one chunk of the activity older than PORTAL_ACTIVITY_RETENTION_DAYS into
    daily totals (folding.py), then re-queue while days remain to fold. The cutoff day
    is fixed by the first run and passed on."""
    day = dt.date.fromisoformat(cutoff_day) if cutoff_day else activity_cutoff_day()
    chunk = do_fold_old_activity(cutoff_day=day, batch_size=FOLD_CHUNK_SIZE)
    # A chunk that did nothing ends the chain (tomorrow's run picks up what is left).
    if chunk.rows and chunk.has_more:
        transaction.on_commit(lambda: fold_old_activity.delay(day.isoformat()))
    return chunk.rows


@shared_task(**_RETRY)
def categorise_stored_prompts() -> int:
    """Count one chunk of usable stored prompts into the anonymous aggregates, then
    re-queue while usable prompts remain."""
    categorised = do_categorise_stored_prompts(batch_size=CATEGORISATION_CHUNK_SIZE)
    # A run that found nothing (another run holds the remaining rows) ends its chain.
    if categorised and has_uncategorised_prompts():
        transaction.on_commit(lambda: categorise_stored_prompts.delay())
    return categorised
