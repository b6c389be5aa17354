"""May this key's text be stored, or used, now? The one rule, written once here; and,
at the end, the one place a key's effective provider rules are computed
(effective_provider_policy: its account's choices, narrowed by the key's own).

A prompt and its completion may be stored, and stored text may be used (categorised),
only while all of these hold, read from the database at that moment:

- the account allows logging (LoggingPreference.log_prompts);
- the key follows the account (ApiKey.logging "account"; a never-log key never logs);
- the key is not revoked;
- the account is active: not deactivated, terminated or closed for deletion (every
  closing deactivates the account at once, before its purge; privacy/deletion/closing.py).

Every consumer reads the rule through MAY_LOG_TEXT, over the key, its account and the
account's preference joined as FROM_KEY builds them (aliases k, u, p):

- the gateway's decision answers `log_prompts` with it (selectors.decision_for_key);
- ingestion stores a record's text only when it holds, with the three rows held FOR
  SHARE until the batch commits (actions.do_ingest_generations);
- categorisation reads only text for which it holds now (categories.py), and only
  text younger than the retention period.

A revoked key's stored text is not categorised either. Revoking is the last thing its
owner can say about a key (a revoked key's settings can no longer be changed, so it
cannot be made never-log afterwards), and a key is most often revoked because it leaked,
so its text may be someone else's; ingestion already stores no text for it. One rule for
storing and for using keeps the answer the same wherever it is asked.

Withdrawing permission stops use and new storage; it does not erase text already stored.
Stored text is kept for the owner's retention period whatever the owner's other
settings, then expiry removes it (retention.py; the generation's billing metadata
stays), and a deletion request removes it sooner. The period is the one the owner chose
on the privacy page (LoggingPreference.text_retention_days, 1 day up to
PORTAL_PROMPT_RETENTION_DAYS), or PORTAL_PROMPT_RETENTION_DAYS when they chose none:
`effective_retention_days`. Text older than its owner's period is never used, even
before expiry has run: older than `retention_cutoff()` (the longest period) for anyone,
and older than the owner's own period by WITHIN_OWNERS_RETENTION (on g and p).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import ApiKey, User
from logging_prefs.models import LoggingPreference


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _literal(value: str) -> str:
    # A choice's value from the code, never input: checked to need no quoting.
    if not value.isidentifier():
        raise ValueError(f"not a plain literal: {value!r}")
    return f"'{value}'"


_KEY_USER = _column(ApiKey, "user")

# The key (k), its account (u) and the account's preference row (p).
ACCOUNT_JOINS = (
    f" JOIN {_table(User)} u ON u.{connection.ops.quote_name(User._meta.pk.column)} = k.{_KEY_USER}"
    f" JOIN {_table(LoggingPreference)} p ON p.{_column(LoggingPreference, 'user')} = k.{_KEY_USER}"
)
FROM_KEY = f" FROM {_table(ApiKey)} k" + ACCOUNT_JOINS

# The rule, as an SQL condition on k, u and p (module docstring).
MAY_LOG_TEXT = (
    f"(p.{_column(LoggingPreference, 'log_prompts')}"
    f" AND k.{_column(ApiKey, 'logging')} = {_literal(ApiKey.Logging.AS_ACCOUNT.value)}"
    f" AND k.{_column(ApiKey, 'revoked_at')} IS NULL"
    f" AND u.{_column(User, 'is_active')})"
)

# Holds the three rows the rule reads until the transaction ends: a preference change,
# key change or account closing (FOR UPDATE) waits for it, and is in force after it.
HOLD_ROWS = " FOR SHARE OF k, u, p"


def effective_retention_days(chosen: int | None) -> int:
    """How many days a person's stored text is kept: their choice, or the portal's
    period when they made none; never longer than the portal's period (a choice made
    before the setting was lowered counts as the new, shorter period)."""
    longest = settings.PORTAL_PROMPT_RETENTION_DAYS
    return longest if chosen is None else max(1, min(chosen, longest))


def retention_cutoff(now: dt.datetime | None = None, *, days: int | None = None) -> dt.datetime:
    """Text created before this moment has outlived the retention period (the portal's,
    or `days`): it is never used, and expiry removes it."""
    now = now or timezone.now()
    return now - dt.timedelta(days=settings.PORTAL_PROMPT_RETENTION_DAYS if days is None else days)


_CHOSEN_DAYS = f"p.{_column(LoggingPreference, 'text_retention_days')}"

# Text of a generation g, owned by the account of preference row p, is younger than the
# period its owner chose (one %s: now). No choice (NULL) passes here; the portal's own
# period is the caller's `g.created_at >= retention_cutoff()`, a plain range the
# partial indexes on created_at serve.
WITHIN_OWNERS_RETENTION = (
    f"({_CHOSEN_DAYS} IS NULL OR g.created_at >= %s - make_interval(days => {_CHOSEN_DAYS}))"
)

# The same moment, the owner's cutoff, as an SQL expression on p (one %s: now).
OWNERS_CUTOFF = f"%s - make_interval(days => {_CHOSEN_DAYS})"


# --- Where a key's requests may go: its account's provider choices, narrowed by the key

# Which of the key's own rules (ApiKey.PROVIDER_RULE_FIELDS) narrows each of the
# account's provider choices (LoggingPreference.PROVIDER_POLICY_FIELDS); a choice that
# no key rule names is the account's alone.
KEY_NARROWS = {
    "allow_training_paid": "no_training",
    "allow_training_free": "no_training",
    "zdr_only": "zdr_only",
    "in_region_only": "in_region_only",
}


def effective_provider_policy(
    account: Mapping[str, bool], key: Mapping[str, bool]
) -> dict[str, bool]:
    """A key's effective provider rules: its account's choices (`account`, by
    PROVIDER_POLICY_FIELDS), narrowed by the key's own rules (`key`, by
    ApiKey.PROVIDER_RULE_FIELDS). The one place this is computed: the gateway's decision
    and routes, and the key's page, all read it.

    A key rule that is on turns an "allow_…" choice off and an "…_only" choice on; off,
    the account decides. So a key can narrow its account's choices, never widen them.
    """
    effective = {}
    for name in LoggingPreference.PROVIDER_POLICY_FIELDS:
        value = bool(account[name])
        rule = KEY_NARROWS.get(name)
        if rule is not None and key[rule]:
            value = not name.startswith("allow_")
        effective[name] = value
    return effective
