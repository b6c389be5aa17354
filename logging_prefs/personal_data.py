"""Prompt logging's personal data, for the purge engine (privacy/registry.py).

Not here, because they hold nothing about a person: BillingDailyTotal (the anonymous
billing ledger the purge and the fold of old activity add generations into) and
CategoryDailyCount (an anonymous aggregate: model, category, day).
"""

from __future__ import annotations

from django.db.models import Q

from logging_prefs.models import (
    BillingDailyTotal,
    Generation,
    LoggingPreference,
    PreferenceChange,
    UsageDailyTotal,
)
from privacy.registry import StoredText, Totals, register

# The account's privacy choices, how long its stored text is kept among them.
register(LoggingPreference)
# The person's usage totals (per day, key, model, provider and app; days older than
# PORTAL_ACTIVITY_RETENTION_DAYS only per day, model and provider: logging_prefs/folding.py),
# what the activity page reads: theirs alone, so deleted with the account. Their billing
# totals survive in the anonymous ledger through Generation's archive below (a folded
# day's generations went there when it was folded), not through these rows.
register(UsageDailyTotal)
# Support may change a setting for the person: once that staff account is erased, the
# history keeps the change and forgets who made it.
register(PreferenceChange, people=("actor_id",))
# A deleted account's generations are archived, not anonymised in place: their billing
# totals are added into the anonymous ledger and the rows deleted (one chunk, one
# transaction). Rewriting each 1 KB row without its person cost a new row version and
# its index entries per row, about five times a plain DELETE (bench/purge.py); adding
# a chunk into a few rows of totals costs a fraction of copying it row by row
# (bench/purge.py: a chunk's statement 20-30% faster). Account, key, app URL and
# title (collected information about the person, per the policy), the text, the
# request id and the time of day go with the rows.
register(
    Generation,
    how="archive",
    reason=(
        "Billing totals: the number of generations, their tokens and cost per day, "
        "model and provider, added into the anonymous billing ledger and kept for "
        "accounting (no account, key, app, request or text)."
    ),
    archive=Totals(
        into=BillingDailyTotal,
        day=("day", "created_at"),
        keys={"model": "model", "provider": "provider"},
        count="generations",
        sums={
            "prompt_tokens": "prompt_tokens",
            "completion_tokens": "completion_tokens",
            "cost_usd": "cost_usd",
        },
    ),
    # gen_user_created's order (read backwards): a chunk is the next rows of that
    # (partial) index, not a scan of the table (a heavy user owns a large share of it).
    # Oldest first: rows are stored roughly in the order they arrive, so the chunks
    # read and write the table's pages forwards, which the OS reads ahead and writes
    # back in order (bench/purge.py: 10-15% faster chunks than newest first).
    chunk_order=("created_at", "id"),
    # "Delete my stored prompts and completions" (the prompts-only scope) erases the
    # text and keeps the row, metadata and all.
    stored_text=StoredText(
        erase={"prompt": None, "completion": None, "text_state": Generation.TextState.DELETED},
        remaining=Q(text_state=Generation.TextState.STORED),
        dated_by="created_at",
    ),
)
