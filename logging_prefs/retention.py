"""Retention expiry: stored prompt and completion text is kept for its owner's
retention period (PORTAL_PROMPT_RETENTION_DAYS, or the shorter one they chose on the
privacy page), then removed, whatever their other settings allow now
(logging_prefs.eligibility: withdrawing permission stops use, not storage; text past
the cutoff is never used, even before it is expired). The generation row itself (model,
tokens, cost, time) is billing data and stays; its text_state becomes "expired".

Two nightly tasks, each fixing its cutoff once and working one chunk at a time, each
chunk its own short transaction (a single UPDATE over a month of text would hold row
locks for minutes, block the gateway's ingestion behind it, and redo everything after
a failure):

- tasks.expire_stored_text: everyone's text older than PORTAL_PROMPT_RETENTION_DAYS,
  oldest first, by the partial index gen_stored_created;
- tasks.expire_text_past_chosen_retention: the text younger than that whose owner chose
  a shorter period. One walk along the same index, from the portal's cutoff to the
  shortest period anyone chose (nothing at all while nobody chose one), a fixed number
  of stored rows per statement, each row's owner's period read by a join on the
  preference row: no loop over people, no scan of expired or never-logged rows. A
  shortened period is in force from the next night's run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, QuerySet

from logging_prefs.eligibility import OWNERS_CUTOFF, retention_cutoff
from logging_prefs.models import Generation, LoggingPreference

__all__ = [
    "ChosenExpiry",
    "chosen_retention_window",
    "do_expire_stored_text",
    "do_expire_text_past_chosen_retention",
    "retention_cutoff",
    "stored_text_older_than",
]


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


def chosen_retention_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end) of creation times where a person's shorter period may have expired
    text that the portal's period has not: from the portal's cutoff to the cutoff of the
    shortest period anyone chose. None when nobody chose a shorter period.

    One index lookup (pref_chosen_retention holds only the preferences with a choice).
    """
    longest = settings.PORTAL_PROMPT_RETENTION_DAYS
    shortest = LoggingPreference.objects.filter(
        text_retention_days__isnull=False, text_retention_days__lt=longest
    ).aggregate(shortest=Min("text_retention_days"))["shortest"]
    if shortest is None:
        return None
    return retention_cutoff(now), retention_cutoff(now, days=shortest)


@dataclass(frozen=True)
class ChosenExpiry:
    expired: int
    # Where the next chunk starts (created_at, id of the last row looked at); None once
    # the walk has passed the end of the window.
    position: tuple[dt.datetime, int] | None


_G = connection.ops.quote_name(Generation._meta.db_table)
_P = connection.ops.quote_name(LoggingPreference._meta.db_table)
_STORED = Generation.TextState.STORED.value
_EXPIRED = Generation.TextState.EXPIRED.value

# The next `limit` stored rows of the window after the position, by gen_stored_created
# (a range of that partial index: the literal 'stored' lets the planner match it); of
# those, the ones older than their owner's chosen period lose their text. The statement
# touches at most `limit` rows whatever the share of them that expires.
_CHOSEN_EXPIRY_SQL = f"""
WITH scanned AS (
    SELECT g.id, g.created_at, g.user_id FROM {_G} g
    WHERE g.text_state = '{_STORED}' AND g.created_at < %(end)s
      AND g.created_at >= %(after_at)s AND (g.created_at > %(after_at)s OR g.id > %(after_id)s)
    ORDER BY g.created_at, g.id
    LIMIT %(limit)s
),
expired AS (
    UPDATE {_G} AS t SET prompt = NULL, completion = NULL, text_state = '{_EXPIRED}'
    FROM scanned s JOIN {_P} p ON p.user_id = s.user_id
    WHERE t.id = s.id AND t.text_state = '{_STORED}'
      AND s.created_at < {OWNERS_CUTOFF.replace("%s", "%(now)s")}
    RETURNING t.id
)
SELECT (SELECT count(*) FROM expired), last.created_at, last.id
FROM (SELECT 1) one LEFT JOIN LATERAL (
    SELECT created_at, id FROM scanned ORDER BY created_at DESC, id DESC LIMIT 1
) last ON true
"""  # noqa: S608 (constant names and choice values; every value is a parameter)


def do_expire_text_past_chosen_retention(
    *, now: dt.datetime, after: tuple[dt.datetime, int] | None, batch_size: int
) -> ChosenExpiry:
    """Look at the next `batch_size` stored texts of the chosen-retention window
    (chosen_retention_window) after `after`, and expire those older than the period
    their owner chose.

    Idempotent: expired text is no longer "stored", so a repeated chunk changes nothing.
    Side effects, in one statement: sets prompt and completion to NULL and text_state to
    "expired" on those rows; every other column (billing metadata) is kept. Returns how
    many were expired and where the next chunk starts (None: done).
    """
    window = chosen_retention_window(now)
    if window is None:
        return ChosenExpiry(expired=0, position=None)
    start, end = window
    if after is None or after[0] < start:
        after = (start, 0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CHOSEN_EXPIRY_SQL,
            {
                "end": end,
                "after_at": after[0],
                "after_id": after[1],
                "limit": batch_size,
                "now": now,
            },
        )
        expired, last_at, last_id = cursor.fetchone()
    if last_at is None:
        return ChosenExpiry(expired=expired, position=None)
    return ChosenExpiry(expired=expired, position=(last_at, last_id))
