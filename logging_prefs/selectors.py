"""Reads about logging that more than one caller needs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, Sum

from accounts.models import ApiKey, hash_api_key
from gateway.prepared import fetch_one
from logging_prefs.eligibility import FROM_KEY, MAY_LOG_TEXT
from logging_prefs.models import (
    CategoryDailyCount,
    Generation,
    LoggingPreference,
    PreferenceChange,
)


class UnknownKey(Exception):
    """No such key, or it was revoked (the gateway answers 401)."""


class AccountInactive(Exception):
    """The key's account is deactivated or terminated (the gateway answers 403)."""


@dataclass(frozen=True)
class Decision:
    key_id: int
    account: str
    log_prompts: bool
    provider_policy: dict[str, bool]


_DECISION_SQL = (
    "SELECT k.id, k.revoked_at IS NULL, u.public_id::text, u.is_active, "  # noqa: S608 (constant names)
    + MAY_LOG_TEXT
    + ", "
    + ", ".join(f"p.{name}" for name in LoggingPreference.PROVIDER_POLICY_FIELDS)
    + FROM_KEY
    + " WHERE k.hashed_key = %s"
)


def decision_for_key(raw_key: str) -> Decision:
    """What a key may log and where it may route, read from the database.

    One query: the key by its unique hash (accounts_apikey_hashed_key_key), joined to
    the account and its preference row; `log_prompts` is the rule of
    logging_prefs.eligibility. Nothing is cached, so a change is in force for
    the very next decision after it commits. Raw SQL, prepared (gateway.prepared),
    because this is the gateway's hot path: building the same join through the ORM cost
    three times the query itself (bench/decisions.py).
    """
    row = fetch_one(_DECISION_SQL, [hash_api_key(raw_key)])
    if row is None:
        raise UnknownKey
    key_id, key_active, public_id, account_active, may_log_text, *policy = row
    # A closed account (deleted, terminated) answers 403 even though closing it also
    # revoked its keys: the gateway learns why, not only that the key stopped working.
    if not account_active:
        raise AccountInactive
    if not key_active:
        raise UnknownKey
    return Decision(
        key_id=key_id,
        # The UUID in its canonical text form, as PostgreSQL hands it back.
        account=public_id,
        log_prompts=may_log_text,
        provider_policy={
            name: bool(value)
            for name, value in zip(LoggingPreference.PROVIDER_POLICY_FIELDS, policy, strict=True)
        },
    )


# --- Account pages: /account/keys/, /account/privacy/, /account/activity/ -----------

# How many audit rows the privacy page shows; the total is counted separately.
PREFERENCE_HISTORY_LIMIT = 50
# Activity page size (keyset pagination on (created_at, id), newest first).
ACTIVITY_PAGE_SIZE = 50
# How many of the newest generations the model suggestions are drawn from.
RECENT_MODELS_WINDOW = 500


def api_key_queryset_for_user(*, user):
    """The user's keys, revoked ones included, newest first (apikey_user_created), as a
    queryset: a form's choice field scoped to the user, so another user's key id is
    simply not a valid choice."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_keys_for_user(*, user) -> list[ApiKey]:
    """All of the user's keys, evaluated."""
    return list(api_key_queryset_for_user(user=user))


def api_key_for_user(*, user, key_id: int) -> ApiKey | None:
    """The user's key with this id, or None (unknown id or another user's key)."""
    return ApiKey.objects.filter(user=user, pk=key_id).first()


def logging_preference_for_user(*, user) -> LoggingPreference:
    """The account's preference row; an unsaved row with the defaults if it is missing
    (a read never writes: the first save creates it)."""
    preference = LoggingPreference.objects.filter(user=user).first()
    return preference if preference is not None else LoggingPreference(user=user)


@dataclass(frozen=True)
class PreferenceHistory:
    changes: list
    total: int


def preference_history_for_user(
    *, user, limit: int = PREFERENCE_HISTORY_LIMIT
) -> PreferenceHistory:
    """The newest `limit` preference changes (key included, no N+1) and how many there
    are in all. Two queries whatever the size of the history (prefchange_user_changed)."""
    queryset = PreferenceChange.objects.filter(user=user)
    changes = list(
        queryset.select_related("api_key")
        .only(
            "id",
            "actor_id",
            "actor_is_user",
            "setting",
            "old_value",
            "new_value",
            "changed_at",
            "api_key__id",
            "api_key__name",
            "api_key__prefix",
        )
        .order_by("-changed_at", "-id")[:limit]
    )
    total = len(changes) if len(changes) < limit else queryset.count()
    return PreferenceHistory(changes=changes, total=total)


@dataclass(frozen=True)
class ActivityFilters:
    model: str = ""
    app: str = ""
    api_key_id: int | None = None
    created_from: dt.datetime | None = None  # inclusive
    created_before: dt.datetime | None = None  # exclusive


@dataclass(frozen=True)
class ActivityPage:
    generations: list
    # (created_at, id) of the last row shown when there are older rows, else None.
    next_position: tuple[dt.datetime, int] | None


# The list never loads prompt or completion text: only what the table shows.
_ACTIVITY_LIST_FIELDS = (
    "id",
    "model",
    "provider",
    "app_url",
    "app_title",
    "text_state",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "created_at",
    "api_key__id",
    "api_key__name",
    "api_key__prefix",
)


def activity_page_for_user(
    *,
    user,
    filters: ActivityFilters,
    before: tuple[dt.datetime, int] | None = None,
    page_size: int = ACTIVITY_PAGE_SIZE,
) -> ActivityPage:
    """One page of the user's generations, newest first, strictly older than `before`.

    Keyset pagination: no OFFSET and no COUNT, so a page costs the same for a user with
    a million rows. The ordering (created_at DESC, id DESC) after user = X (optionally
    model = M), or after api_key = K, is exactly gen_user_created, gen_user_model or
    gen_key_created, so PostgreSQL reads the index in order and stops after page_size + 1
    rows. `created_at <= t` is repeated outside the OR so it is an index condition that
    starts the scan at the cursor instead of a filter applied to every row before it.
    """
    queryset = Generation.objects.filter(user=user)
    if filters.model:
        queryset = queryset.filter(model=filters.model)
    if filters.api_key_id is not None:
        queryset = queryset.filter(api_key_id=filters.api_key_id)
    if filters.app:
        # Exact matches only: an app is named by its URL (what the gateway records
        # from the HTTP-Referer header) or by its title.
        if filters.app.startswith(("http://", "https://")):
            queryset = queryset.filter(app_url=filters.app)
        else:
            queryset = queryset.filter(app_title=filters.app)
    if filters.created_from is not None:
        queryset = queryset.filter(created_at__gte=filters.created_from)
    if filters.created_before is not None:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    if before is not None:
        created_at, pk = before
        queryset = queryset.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(id__lt=pk)
        )
    rows = list(
        queryset.select_related("api_key")
        .only(*_ACTIVITY_LIST_FIELDS)
        .order_by("-created_at", "-id")[: page_size + 1]
    )
    next_position = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_position = (rows[-1].created_at, rows[-1].id)
    return ActivityPage(generations=rows, next_position=next_position)


def recent_models_for_user(*, user, window: int = RECENT_MODELS_WINDOW) -> list[str]:
    """The distinct models among the user's newest `window` generations, sorted.

    Suggestions for the model filter. SELECT DISTINCT over all of a user's rows would
    read every one of them (a million for a heavy user) on each page view; the newest
    `window` rows come straight off gen_user_created and cover the models in use now.
    Older models can still be typed into the filter.
    """
    models = (
        Generation.objects.filter(user=user)
        .order_by("-created_at", "-id")
        .values_list("model", flat=True)[:window]
    )
    return sorted(set(models))


def generation_for_user(*, user, generation_id: int) -> Generation | None:
    """One of the user's generations with its key, or None (unknown or not theirs)."""
    return Generation.objects.filter(user=user, pk=generation_id).select_related("api_key").first()


def published_category_counts(
    *, models: list[str], since: dt.date, until: dt.date
) -> dict[str, dict[str, int]]:
    """What the public model pages may show: for each of `models` (the catalog's), each
    category's categorised requests from `since` to `until`, leaving out every cell
    below PORTAL_CATEGORY_MIN_COUNT. A smaller cell, or any count of a model outside
    the catalog (a customer's private or fine-tuned model), could be one customer's
    use; a total is the sum of the cells shown, so nothing left out can be worked
    back from it. One query, on catcount_model_day (model, day)."""
    rows = (
        CategoryDailyCount.objects.filter(model__in=models, day__gte=since, day__lte=until)
        .values("model", "category")
        .annotate(n=Sum("count"))
        .filter(n__gte=max(settings.PORTAL_CATEGORY_MIN_COUNT, 1))
    )
    published: dict[str, dict[str, int]] = {}
    for row in rows:
        published.setdefault(row["model"], {})[row["category"]] = row["n"]
    return published
