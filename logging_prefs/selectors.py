"""Reads about logging that more than one caller needs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Q, Sum

from accounts.models import ApiKey, hash_api_key
from gateway.prepared import fetch_one
from logging_prefs.eligibility import FROM_KEY, MAY_LOG_TEXT, effective_provider_policy
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


# Shared with gateway.selectors, which asks it with a model's routes.
DECISION_SQL = (
    "SELECT k.id, k.revoked_at IS NULL, u.public_id::text, u.is_active, "  # noqa: S608 (constant names)
    + MAY_LOG_TEXT
    + ", "
    + ", ".join(f"p.{name}" for name in LoggingPreference.PROVIDER_POLICY_FIELDS)
    + ", "
    + ", ".join(f"k.{name}" for name in ApiKey.PROVIDER_RULE_FIELDS)
    + FROM_KEY
    + " WHERE k.hashed_key = %s"
)
_ACCOUNT_POLICY_COLUMNS = len(LoggingPreference.PROVIDER_POLICY_FIELDS)
# How many columns DECISION_SQL selects (decision_from_row checks it).
DECISION_COLUMNS = 5 + _ACCOUNT_POLICY_COLUMNS + len(ApiKey.PROVIDER_RULE_FIELDS)


def decision_for_key(raw_key: str) -> Decision:
    """What a key may log and where it may route, read from the database.

    One query: the key by its unique hash (accounts_apikey_hashed_key_key), joined to
    the account and its preference row; `log_prompts` is the rule of
    logging_prefs.eligibility, and `provider_policy` the key's effective rules: its
    account's choices narrowed by its own (eligibility.effective_provider_policy).
    Nothing is cached, so a change is in force for the very next decision after it
    commits. Raw SQL, prepared (gateway.prepared),
    because this is the gateway's hot path: building the same join through the ORM cost
    three times the query itself (bench/decisions.py).
    """
    row = fetch_one(DECISION_SQL, [hash_api_key(raw_key)])
    if row is None:
        raise UnknownKey
    return decision_from_row(row)


def decision_from_row(row: tuple) -> Decision:
    """The decision of a row of DECISION_SQL, or UnknownKey, AccountInactive."""
    if len(row) != DECISION_COLUMNS:
        raise ValueError(f"a decision has {DECISION_COLUMNS} columns, not {len(row)}")
    key_id, key_active, public_id, account_active, may_log_text, *policy = row
    account_policy, key_rules = policy[:_ACCOUNT_POLICY_COLUMNS], policy[_ACCOUNT_POLICY_COLUMNS:]
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
        provider_policy=effective_provider_policy(
            dict(zip(LoggingPreference.PROVIDER_POLICY_FIELDS, account_policy, strict=True)),
            dict(zip(ApiKey.PROVIDER_RULE_FIELDS, key_rules, strict=True)),
        ),
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


def default_provider_policy() -> dict[str, bool]:
    """The provider choices a new account starts with (the model fields' defaults)."""
    return LoggingPreference().provider_policy()


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
    "status",
    "error_type",
    "created_at",
    "api_key__id",
    "api_key__name",
    "api_key__prefix",
)


def _generations_for_user(*, user, filters: ActivityFilters):
    """The user's generations that match `filters` (unordered)."""
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
    return queryset


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
    queryset = _generations_for_user(user=user, filters=filters)
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


# --- Usage totals (UsageDailyTotal): the activity page's totals, chart and breakdowns --

# How many rows each breakdown table shows; the rest are summed into one "others" row.
BREAKDOWN_ROWS = 10


@dataclass(frozen=True)
class UsageFigures:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_text(self) -> str:
        """The cost in dollars and cents, or to the last non-zero digit below a cent."""
        if self.cost_usd == 0 or self.cost_usd >= Decimal("0.01"):
            return f"{self.cost_usd:,.2f}"
        return f"{self.cost_usd.normalize():f}"

    def __add__(self, other: UsageFigures) -> UsageFigures:
        return UsageFigures(
            self.requests + other.requests,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True)
class BreakdownRow:
    label: str
    figures: UsageFigures
    # The app's URL, when the row is an app that has one (the page links it).
    url: str = ""
    # How many groups an "others" row stands for (0 for a named row).
    others: int = 0


@dataclass(frozen=True)
class UsageSummary:
    total: UsageFigures
    by_day: dict[dt.date, UsageFigures]
    by_model: list[BreakdownRow]
    by_provider: list[BreakdownRow]
    by_app: list[BreakdownRow]
    by_key: list[BreakdownRow]


# GROUPING(day, model, provider, app_url, app_title, api_key_id): a bit is set for each
# column the row is not grouped by, so each grouping set has its own value.
# The key breakdown's name for folded totals (logging_prefs/folding.py), which keep none.
FOLDED_KEY_LABEL = "older requests (key not kept)"

_GROUPING_TOTAL = 0b111111
_GROUPING_DAY = 0b011111
_GROUPING_MODEL = 0b101111
_GROUPING_PROVIDER = 0b110111
_GROUPING_APP = 0b111001
_GROUPING_KEY = 0b111110

_USAGE_SQL = """
SELECT GROUPING(day, model, provider, app_url, app_title, api_key_id),
       day, model, provider, app_url, app_title, api_key_id,
       sum(generations), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)
FROM logging_prefs_usagedailytotal
WHERE {where}
GROUP BY GROUPING SETS ((), (day), (model), (provider), (app_url, app_title), (api_key_id))
"""


def _breakdown(rows: list[BreakdownRow], limit: int = BREAKDOWN_ROWS) -> list[BreakdownRow]:
    """The rows by cost, then requests, then name; past `limit`, one "others" row."""
    rows.sort(key=lambda row: (-row.figures.cost_usd, -row.figures.requests, row.label))
    if len(rows) <= limit:
        return rows
    rest = rows[limit - 1 :]
    others = UsageFigures()
    for row in rest:
        others += row.figures
    return [*rows[: limit - 1], BreakdownRow(label="", figures=others, others=len(rest))]


def usage_summary_for_user(*, user, filters: ActivityFilters) -> UsageSummary:
    """The user's totals for `filters`, per day, and by model, provider, app and key.

    One query on the UsageDailyTotal rows of the period (GROUPING SETS: every breakdown
    in one pass), through usage_total_unique's (user, day) prefix: its cost grows with
    the days, keys, models and apps in the period, not with the number of requests.
    The filters' times are whole UTC days (ActivityFilterForm), the summary's unit.
    """
    where = ["user_id = %s"]
    params: list[object] = [user.pk]
    if filters.created_from is not None:
        where.append("day >= %s")
        params.append(filters.created_from.astimezone(dt.UTC).date())
    if filters.created_before is not None:
        where.append("day < %s")
        params.append(filters.created_before.astimezone(dt.UTC).date())
    if filters.model:
        where.append("model = %s")
        params.append(filters.model)
    if filters.api_key_id is not None:
        where.append("api_key_id = %s")
        params.append(filters.api_key_id)
    if filters.app:
        where.append(
            "app_url = %s" if filters.app.startswith(("http://", "https://")) else "app_title = %s"
        )
        params.append(filters.app)
    with connection.cursor() as cursor:
        # Only constant conditions are formatted in; every value is a parameter.
        cursor.execute(_USAGE_SQL.format(where=" AND ".join(where)), params)
        rows = cursor.fetchall()

    total = UsageFigures()
    by_day: dict[dt.date, UsageFigures] = {}
    models, providers, apps, key_ids = [], [], [], {}
    for grouping, day, model, provider, app_url, app_title, key_id, *sums in rows:
        if sums[0] is None:  # the empty total of a period without requests
            continue
        figures = UsageFigures(int(sums[0]), int(sums[1]), int(sums[2]), sums[3])
        if grouping == _GROUPING_TOTAL:
            total = figures
        elif grouping == _GROUPING_DAY:
            by_day[day] = figures
        elif grouping == _GROUPING_MODEL:
            models.append(BreakdownRow(label=model, figures=figures))
        elif grouping == _GROUPING_PROVIDER:
            providers.append(BreakdownRow(label=provider, figures=figures))
        elif grouping == _GROUPING_APP:
            apps.append(BreakdownRow(label=app_title or app_url, figures=figures, url=app_url))
        elif grouping == _GROUPING_KEY:
            key_ids[key_id] = figures
    names = {}
    if key_ids:
        names = {
            key.pk: f"{key.name} ({key.prefix}…)"
            for key in ApiKey.objects.filter(user=user, pk__in=[k for k in key_ids if k]).only(
                "id", "name", "prefix"
            )
        }
    keys = [
        BreakdownRow(
            # No key: the folded totals of days past PORTAL_ACTIVITY_RETENTION_DAYS.
            label=names.get(key_id, "a deleted key") if key_id else FOLDED_KEY_LABEL,
            figures=figures,
        )
        for key_id, figures in key_ids.items()
    ]
    return UsageSummary(
        total=total,
        by_day=by_day,
        by_model=_breakdown(models),
        by_provider=_breakdown(providers),
        by_app=_breakdown(apps),
        by_key=_breakdown(keys),
    )


# --- CSV download of the activity ----------------------------------------------------

# Metadata only, never the text: the JSON data download is the complete copy.
ACTIVITY_CSV_FIELDS = (
    "created_at",
    "gateway_id",
    "model",
    "provider",
    "app_title",
    "app_url",
    "api_key__name",
    "api_key__prefix",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "text_state",
    "status",
    "error_type",
)
# Rows fetched per round trip from the server-side cursor: memory stays bounded by this,
# whatever the number of rows.
ACTIVITY_CSV_CHUNK = 2000


def activity_rows_for_user(*, user, filters: ActivityFilters, chunk_size: int = ACTIVITY_CSV_CHUNK):
    """The user's generations matching `filters`, newest first, as tuples of
    ACTIVITY_CSV_FIELDS, read through a server-side cursor `chunk_size` rows at a time
    (QuerySet.iterator): an iterator, so the caller can stream them."""
    return (
        _generations_for_user(user=user, filters=filters)
        .order_by("-created_at", "-id")
        .values_list(*ACTIVITY_CSV_FIELDS)
        .iterator(chunk_size=chunk_size)
    )


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
