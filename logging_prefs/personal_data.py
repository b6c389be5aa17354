"""Prompt logging's personal data, for the purge engine (privacy/registry.py).

CategoryDailyCount is not here: it is an anonymous aggregate (model, category, day).
"""

from __future__ import annotations

from django.db.models import Case, F, Q, Value, When

from logging_prefs.models import Generation, LoggingPreference, PreferenceChange
from privacy.registry import StoredText, register

register(LoggingPreference)
register(PreferenceChange)
register(
    Generation,
    how="anonymise",
    reason=(
        "Billing records: model, provider, token counts, cost and time are kept for "
        "accounting, cut from the person (no account, key, app or text)."
    ),
    anonymise={
        "user": None,
        "api_key": None,
        # App URLs and titles are collected information about the person (policy).
        "app_url": "",
        "app_title": "",
        "prompt": None,
        "completion": None,
        # "Deleted at your request" only where text was stored; a row whose text was
        # never logged or already expired keeps saying so.
        "text_state": Case(
            When(text_state=Generation.TextState.STORED, then=Value(Generation.TextState.DELETED)),
            default=F("text_state"),
        ),
    },
    stored_text=StoredText(
        erase={"prompt": None, "completion": None, "text_state": Generation.TextState.DELETED},
        remaining=Q(text_state=Generation.TextState.STORED),
        dated_by="created_at",
    ),
)
