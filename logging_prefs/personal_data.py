"""Prompt logging's personal data, for the purge engine (privacy/registry.py).

Not here, because they hold nothing about a person: BillingRecord (the anonymous
billing ledger the purge archives generations into) and CategoryDailyCount (an
anonymous aggregate: model, category, day).
"""

from __future__ import annotations

from django.db.models import Q

from logging_prefs.models import BillingRecord, Generation, LoggingPreference, PreferenceChange
from privacy.registry import StoredText, register

register(LoggingPreference)
register(PreferenceChange)
# A deleted account's generations are archived, not anonymised in place: their billing
# fields are copied into the anonymous ledger and the rows deleted (one chunk, one
# transaction). Rewriting each 1 KB row without its person cost a new row version and
# its index entries per row, about five times a plain DELETE (bench/purge.py); the
# copy is a few narrow columns into a table with only its primary key. Account, key,
# app URL and title (collected information about the person, per the policy) and the
# text go with the rows.
register(
    Generation,
    how="archive",
    reason=(
        "Billing records: model, provider, tokens, cost and time, in the anonymous "
        "billing ledger, kept for accounting (no account, key, app or text)."
    ),
    archive_into=BillingRecord,
    archive_fields={
        "gateway_id": "gateway_id",
        "model": "model",
        "provider": "provider",
        "prompt_tokens": "prompt_tokens",
        "completion_tokens": "completion_tokens",
        "cost_usd": "cost_usd",
        "created_at": "created_at",
    },
    # gen_user_created's order: a chunk is the next rows of that (partial) index, not
    # a scan of the table (a heavy user owns a large share of it).
    chunk_order=("-created_at", "-id"),
    # "Delete my stored prompts and completions" (the prompts-only scope) erases the
    # text and keeps the row, metadata and all.
    stored_text=StoredText(
        erase={"prompt": None, "completion": None, "text_state": Generation.TextState.DELETED},
        remaining=Q(text_state=Generation.TextState.STORED),
        dated_by="created_at",
    ),
)
