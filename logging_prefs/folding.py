"""Folding old activity: each request's metadata (key, app URL and title, time of day,
request id) is kept for PORTAL_ACTIVITY_RETENTION_DAYS; older days are kept only as the
person's daily totals per model and provider.

For a UTC day older than the cutoff, the fold
- deletes the day's Generation rows, adding their totals into the anonymous billing
  ledger (BillingDailyTotal) in the same statement: the purge's own archive statement
  (privacy/deletion/archive.py), so the ledger holds every generation that no longer
  has a row, whether its account was deleted or its day folded, and an account deleted
  later leaves the ledger its whole history, folded days included;
- collapses the person's UsageDailyTotal rows of that day into one row per model and
  provider with no key and no app (a "folded" row), the sums kept. The activity page
  reads its totals from UsageDailyTotal, so they are the same before and after.

A nightly task (tasks.fold_old_activity) works one chunk at a time, each chunk one
transaction on one account: the account with the oldest day still to fold, found by
the partial index usage_total_unfolded_day (rows not folded yet, by day), then up to a
chunk of its generations older than the cutoff by gen_user_created (the purge's index
and order), then, once none is left, up to a chunk of its total rows. No loop over
people and no scan of what is already folded: the work is what is left to fold.

A chunk first takes the account's preference row FOR UPDATE, as a preference change
does: an ingestion batch of the account holds that row FOR SHARE until it commits, so
the chunk waits for a batch in flight, and a batch that comes later waits for the
chunk. A generation posted late for a folded day (the gateway may send old records)
lands in a new unfolded total row and is folded by the next run. Interrupted, a chunk
rolls back whole; run again, it finds what is still unfolded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from logging_prefs.models import UNFOLDED, Generation, LoggingPreference, UsageDailyTotal

__all__ = ["FoldChunk", "activity_cutoff_day", "do_fold_old_activity", "next_account_to_fold"]


def activity_cutoff_day(now: dt.datetime | None = None) -> dt.date:
    """Days (UTC) before this one are folded: PORTAL_ACTIVITY_RETENTION_DAYS whole days
    are kept, today included."""
    now = now or timezone.now()
    return (
        (now - dt.timedelta(days=settings.PORTAL_ACTIVITY_RETENTION_DAYS)).astimezone(dt.UTC).date()
    )


def next_account_to_fold(cutoff_day: dt.date) -> int | None:
    """The account with the oldest day before `cutoff_day` not folded yet, or None."""
    return (
        UsageDailyTotal.objects.filter(UNFOLDED, day__lt=cutoff_day)
        .order_by("day")
        .values_list("user_id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class FoldChunk:
    user_id: int | None
    # Generation rows deleted (their totals added into the billing ledger).
    generations: int
    # UsageDailyTotal rows collapsed into folded rows.
    totals: int
    has_more: bool

    @property
    def rows(self) -> int:
        return self.generations + self.totals


_T = connection.ops.quote_name(UsageDailyTotal._meta.db_table)
_SUMS = ("generations", "prompt_tokens", "completion_tokens", "cost_usd")

# Up to `limit` of the account's unfolded rows before the day (usage_total_unique's
# (user, day) prefix), deleted by row address, and their sums added into the folded
# row of their day, model and provider (ON CONFLICT on usage_total_unique, whose NULL
# key counts as one value: nulls_distinct=False). The rows added are folded, so never
# among those picked: the statement never meets its own rows.
_COLLAPSE_SQL = f"""
WITH picked AS (
    SELECT ctid AS row FROM {_T}
    WHERE user_id = %(user)s AND day < %(day)s
      AND (api_key_id IS NOT NULL OR app_url <> '' OR app_title <> '')
    ORDER BY day
    LIMIT %(limit)s
),
gone AS (
    DELETE FROM {_T} WHERE ctid = ANY(ARRAY(SELECT row FROM picked))
    RETURNING user_id, day, model, provider, {", ".join(_SUMS)}
),
added AS (
    INSERT INTO {_T} (user_id, day, api_key_id, model, provider, app_url, app_title,
                      {", ".join(_SUMS)})
    SELECT user_id, day, NULL::bigint, model, provider, '', '',
           {", ".join(f"sum({name})" for name in _SUMS)}
    FROM gone
    GROUP BY user_id, day, model, provider
    ORDER BY user_id, day, model, provider
    ON CONFLICT (user_id, day, api_key_id, model, provider, md5(app_url), md5(app_title))
    DO UPDATE SET {", ".join(f"{name} = {_T}.{name} + EXCLUDED.{name}" for name in _SUMS)}
)
SELECT count(*) FROM gone
"""  # noqa: S608 (constant names; every value is a parameter)


def _generation_entry():
    # The registry's archive of generations: what the purge keeps of them is what the
    # fold keeps (imported here: the registry is filled once the apps are ready).
    from privacy import registry

    return next(entry for entry in registry.entries() if entry.model is Generation)


def do_fold_old_activity(*, cutoff_day: dt.date, batch_size: int) -> FoldChunk:
    """Fold one chunk: of the account with the oldest unfolded day before `cutoff_day`,
    up to `batch_size` generations created before that day, or, once it has none left,
    up to `batch_size` of its daily-total rows of those days.

    Idempotent and resumable: what is folded no longer matches.
    Side effects, in one transaction: locks the account's preference row; deletes
    Generation rows and adds their totals into BillingDailyTotal (one statement);
    replaces UsageDailyTotal rows by folded rows with the same sums (one statement).
    Returns what it did and whether anything is left to fold.
    """
    from privacy.deletion.archive import archive_chunk

    with transaction.atomic():
        user_id = next_account_to_fold(cutoff_day)
        if user_id is None:
            return FoldChunk(user_id=None, generations=0, totals=0, has_more=False)
        # Waits for the account's ingestion batches in flight, holds off new ones.
        list(LoggingPreference.objects.select_for_update().filter(user_id=user_id).values("pk"))
        before = dt.datetime.combine(cutoff_day, dt.time.min, tzinfo=dt.UTC)
        old = Generation.objects.filter(user_id=user_id, created_at__lt=before).order_by(
            "created_at", "id"
        )
        chosen, moved, _ = archive_chunk(_generation_entry(), old, batch_size)
        totals = 0
        if chosen < batch_size:
            # The account's generations of those days are gone: now its totals.
            with connection.cursor() as cursor:
                cursor.execute(
                    _COLLAPSE_SQL, {"user": user_id, "day": cutoff_day, "limit": batch_size}
                )
                (totals,) = cursor.fetchone()
        has_more = (
            chosen == batch_size
            or totals == batch_size
            or next_account_to_fold(cutoff_day) is not None
        )
    return FoldChunk(user_id=user_id, generations=moved, totals=totals, has_more=has_more)
