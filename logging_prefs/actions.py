"""State changes of what gets logged. Views, the gateway API, admin and tasks call these."""

from __future__ import annotations

import datetime as dt
import json
import operator
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, User
from gateway.schemas import GenerationRecord, validate_record
from logging_prefs.eligibility import (
    FROM_KEY,
    HOLD_ROWS,
    MAY_LOG_TEXT,
    effective_retention_days,
)
from logging_prefs.models import Generation, LoggingPreference, PreferenceChange

# last_used_at is for people ("used 3 minutes ago"); writing it more often than this
# would turn every ingestion batch into a hot-row update on the key.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def do_create_logging_preference(*, user: User) -> LoggingPreference:
    """Create the account's preference row with the configured defaults (idempotent).

    Side effects: inserts one LoggingPreference row if there is none.
    """
    preference, _ = LoggingPreference.objects.get_or_create(user=user)
    return preference


@transaction.atomic
def do_set_logging_preferences(
    *, user: User, acting_user: User | None, changes: dict[str, bool]
) -> list[PreferenceChange]:
    """Apply `changes` (field name -> new value) to the account's preferences.

    The row is locked FOR UPDATE, which waits for ingestion batches that read the old
    value (they hold it FOR SHARE) to commit: once this commits, no batch can store
    text under the old setting.
    Side effects: updates LoggingPreference; appends one PreferenceChange per field
    whose value changed. Returns those changes (empty when nothing changed).
    """
    unknown = set(changes) - set(LoggingPreference.FIELDS)
    if unknown:
        raise ValueError(f"unknown preference: {', '.join(sorted(unknown))}")
    do_create_logging_preference(user=user)
    preference = LoggingPreference.objects.select_for_update().get(user=user)
    now = timezone.now()
    records = []
    for name, new_value in changes.items():
        old_value = getattr(preference, name)
        if old_value == new_value:
            continue
        setattr(preference, name, new_value)
        records.append(
            PreferenceChange(
                user=user,
                actor_id=acting_user.pk if acting_user else None,
                actor_is_user=acting_user is not None and acting_user.pk == user.pk,
                setting=name,
                old_value=_as_text(old_value),
                new_value=_as_text(new_value),
                changed_at=now,
            )
        )
    if records:
        preference.updated_at = now
        preference.save()
        PreferenceChange.objects.bulk_create(records)
    return records


@transaction.atomic
def do_set_text_retention(
    *, user: User, acting_user: User | None, days: int
) -> PreferenceChange | None:
    """Keep the account's stored prompts and completions `days` days (1 up to
    PORTAL_PROMPT_RETENTION_DAYS) instead of its current period.

    A shorter period applies to text already stored: the next run of the nightly
    expiry (tasks.expire_text_past_chosen_retention) removes what it has outlived, and
    from now on categorisation uses no text older than it (logging_prefs.eligibility).
    Locked like the other preferences.
    Side effects: updates LoggingPreference; appends a PreferenceChange (old and new
    period in days) when the period changed. Raises ValueError for a period out of range.
    """
    longest = settings.PORTAL_PROMPT_RETENTION_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= longest:
        raise ValueError(f"a retention period is 1 to {longest} days, not {days!r}")
    do_create_logging_preference(user=user)
    preference = LoggingPreference.objects.select_for_update().get(user=user)
    old = effective_retention_days(preference.text_retention_days)
    if old == days:
        # Already the period in force (an account that never chose keeps following the
        # portal's period).
        return None
    now = timezone.now()
    preference.text_retention_days = days
    preference.updated_at = now
    preference.save(update_fields=["text_retention_days", "updated_at"])
    return PreferenceChange.objects.create(
        user=user,
        actor_id=acting_user.pk if acting_user else None,
        actor_is_user=acting_user is not None and acting_user.pk == user.pk,
        setting="text_retention_days",
        old_value=str(old),
        new_value=str(days),
        changed_at=now,
    )


@transaction.atomic
def do_set_api_key_logging(
    *, api_key: ApiKey, acting_user: User | None, logging: str
) -> PreferenceChange | None:
    """Set a key's logging setting ("account" or "never").

    Locked like the account preference, for the same reason.
    Side effects: updates the key; appends a PreferenceChange when the value changed.
    """
    if logging not in ApiKey.Logging.values:
        raise ValueError(f"unknown logging setting: {logging}")
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.logging == logging:
        return None
    old = locked.logging
    locked.logging = logging
    locked.save(update_fields=["logging"])
    api_key.logging = logging
    return PreferenceChange.objects.create(
        user_id=locked.user_id,
        actor_id=acting_user.pk if acting_user else None,
        actor_is_user=acting_user is not None and acting_user.pk == locked.user_id,
        api_key=locked,
        setting="key_logging",
        old_value=old,
        new_value=logging,
    )


@transaction.atomic
def do_set_api_key_provider_rules(
    *, api_key: ApiKey, acting_user: User | None, changes: dict[str, bool]
) -> list[PreferenceChange]:
    """Set a key's own provider rules (`changes`: ApiKey.PROVIDER_RULE_FIELDS -> bool):
    on, a rule narrows the account's choices for this key (zero-data-retention only, no
    training, in-region only); off, the key follows its account. Never wider than the
    account (eligibility.effective_provider_policy). Locked and audited like the key's
    logging setting.

    Side effects: updates the key; appends one PreferenceChange ("key_<rule>") per rule
    whose value changed. Returns those changes (empty when nothing changed).
    """
    for rule, value in changes.items():
        if rule not in ApiKey.PROVIDER_RULE_FIELDS or not isinstance(value, bool):
            raise ValueError(f"not a key rule or not a boolean: {rule}={value!r}")
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    now = timezone.now()
    records = []
    for rule, value in changes.items():
        old = getattr(locked, rule)
        if old == value:
            continue
        setattr(locked, rule, value)
        setattr(api_key, rule, value)
        records.append(
            PreferenceChange(
                user_id=locked.user_id,
                actor_id=acting_user.pk if acting_user else None,
                actor_is_user=acting_user is not None and acting_user.pk == locked.user_id,
                api_key=locked,
                setting=f"key_{rule}",
                old_value=_as_text(old),
                new_value=_as_text(value),
                changed_at=now,
            )
        )
    if records:
        locked.save(update_fields=[record.setting.removeprefix("key_") for record in records])
        PreferenceChange.objects.bulk_create(records)
    return records


def do_set_api_key_in_region(
    *, api_key: ApiKey, acting_user: User | None, in_region_only: bool
) -> PreferenceChange | None:
    """Set whether a key keeps its requests in PORTAL_DATA_REGION even when its account
    does not (False: as the account): do_set_api_key_provider_rules for that one rule.

    Side effects: as do_set_api_key_provider_rules.
    """
    changes = do_set_api_key_provider_rules(
        api_key=api_key, acting_user=acting_user, changes={"in_region_only": in_region_only}
    )
    return changes[0] if changes else None


@dataclass
class IngestResult:
    stored: int = 0
    with_text: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "stored": self.stored,
            "with_text": self.with_text,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class _KeyState:
    user_id: int
    may_log: bool


def _lock_key_states(key_ids: list[int]) -> dict[int, _KeyState]:
    """Whether each key's text may be stored now (logging_prefs.eligibility), holding
    the rows that answer depends on.

    The key, account and preference rows are held FOR SHARE until the batch commits:
    batches do not block each other, but a preference change, key revocation or
    deactivation (FOR UPDATE) waits for them, and every batch after that change reads
    the new value. The portal re-checks here and never trusts an earlier gateway
    decision.
    """
    if not key_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(key_ids))
    sql = (
        f"SELECT k.id, k.user_id, {MAY_LOG_TEXT}{FROM_KEY}"  # noqa: S608 (only %s placeholders are formatted in)
        f" WHERE k.id IN ({placeholders}){HOLD_ROWS}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, key_ids)
        rows = cursor.fetchall()
    return {
        key_id: _KeyState(user_id=user_id, may_log=may_log) for key_id, user_id, may_log in rows
    }


def _build_row(record: GenerationRecord, state: _KeyState, now: dt.datetime) -> dict:
    """The row to insert, column by column (plain values: no model instance per row,
    which cost more than the INSERT itself at 1,000 rows a batch)."""
    if state.may_log:
        text_state = Generation.TextState.STORED.value
        prompt, completion = record.prompt or "", record.completion or ""
    else:
        text_state = Generation.TextState.NOT_LOGGED.value
        prompt = completion = None
    return {
        "gateway_id": record.id,
        "user_id": state.user_id,
        "api_key_id": record.key_id,
        "model": record.model,
        "provider": record.provider,
        "app_url": record.app_url or "",
        "app_title": record.app_title or "",
        "prompt": prompt,
        "completion": completion,
        "text_state": text_state,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost_usd": record.cost_usd,
        "created_at": record.created_at,
        "received_at": now,
        "categorised": False,
        "status": record.status,
        "error_type": record.error_type or "",
    }


_INSERT_COLUMNS = (
    "gateway_id",
    "user_id",
    "api_key_id",
    "model",
    "provider",
    "app_url",
    "app_title",
    "prompt",
    "completion",
    "text_state",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "created_at",
    "received_at",
    "categorised",
    "status",
    "error_type",
)


def _json_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


_row_values = operator.itemgetter(*_INSERT_COLUMNS)


def _insert_new(rows: list[dict]) -> set[str]:
    """Insert, skipping gateway ids already stored; return the ids actually inserted."""
    if not rows:
        return set()
    # Rows in gateway-id order, so two batches sharing ids wait for each other in the
    # same order and never deadlock on the unique index.
    rows = sorted(rows, key=operator.itemgetter("gateway_id"))
    try:
        # A savepoint: a failed COPY leaves the batch's transaction (and its key locks)
        # usable for the fallback.
        with transaction.atomic():
            return _copy_new(rows)
    except IntegrityError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise
        # Another batch stored one of these ids after the check (a concurrent repost):
        # this batch waited for it to commit, and stores the rest now.
        return _insert_on_conflict(rows)


def _copy_new(rows: list[dict]) -> set[str]:
    """The ids already stored, then COPY of the others.

    COPY is the fastest way into a table (bench/ingest.py measures the API against it):
    a batch of 500 took about 16 ms this way and 28 ms as one INSERT ... SELECT FROM
    json_populate_recordset ... ON CONFLICT DO NOTHING, whose JSON and speculative
    insertion cost more than the rows. COPY cannot skip a conflict, so the ids are
    looked up first (one index probe each). Should another batch store one of them
    between the lookup and the COPY, the COPY waits for that batch's transaction and
    then fails on the unique index, and _insert_new falls back.
    """
    existing = _stored_ids([row["gateway_id"] for row in rows])
    new = [row for row in rows if row["gateway_id"] not in existing]
    if new:
        # The table and columns are constants; every value travels as COPY data.
        table = connection.ops.quote_name(Generation._meta.db_table)
        statement = f"COPY {table} ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
        with (
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.copy(statement) as copy,
        ):
            for row in new:
                copy.write_row(_row_values(row))
    return {row["gateway_id"] for row in new}


def _stored_ids(gateway_ids: list[str]) -> set[str]:
    # One array parameter for the whole batch, where the ORM's __in sends one per id.
    table = connection.ops.quote_name(Generation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT gateway_id FROM {table} WHERE gateway_id = ANY(%s)",  # noqa: S608
            [gateway_ids],
        )
        return {gateway_id for (gateway_id,) in cursor.fetchall()}


def _insert_on_conflict(rows: list[dict]) -> set[str]:
    """PostgreSQL: one INSERT for the whole batch that skips ids already stored, even
    by a batch committing at the same moment. The rows travel as one JSON document
    that PostgreSQL turns back into rows of the table's own type
    (json_populate_recordset)."""
    table = Generation._meta.db_table
    columns = ", ".join(_INSERT_COLUMNS)
    # The table and columns are constants; every value travels in the parameter.
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{table}, %s::json) "
        "ON CONFLICT (gateway_id) DO NOTHING RETURNING gateway_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_json_value)])
        return {row[0] for row in cursor.fetchall()}


def _usage_group(row: dict) -> tuple:
    return (
        row["user_id"],
        row["created_at"].astimezone(dt.UTC).date(),
        row["api_key_id"],
        row["model"],
        row["provider"],
        row["app_url"],
        row["app_title"],
    )


# Added up per group in Python (a batch has a handful of groups), then one statement
# for the batch. Groups go in in one order (ORDER BY the ordinality of their sorted
# arrays), so two batches of one person lock the rows they share in the same order and
# never deadlock; the row locks last only until the batch commits right after.
_USAGE_UPSERT = """
INSERT INTO logging_prefs_usagedailytotal
    (user_id, day, api_key_id, model, provider, app_url, app_title,
     generations, prompt_tokens, completion_tokens, cost_usd)
SELECT user_id, day, api_key_id, model, provider, app_url, app_title,
       generations, prompt_tokens, completion_tokens, cost_usd
FROM unnest(%s::bigint[], %s::date[], %s::bigint[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::numeric[])
     WITH ORDINALITY AS batch(user_id, day, api_key_id, model, provider, app_url, app_title,
                              generations, prompt_tokens, completion_tokens, cost_usd, n)
ORDER BY n
ON CONFLICT (user_id, day, api_key_id, model, provider, md5(app_url), md5(app_title))
DO UPDATE SET
    generations = logging_prefs_usagedailytotal.generations + EXCLUDED.generations,
    prompt_tokens = logging_prefs_usagedailytotal.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens =
        logging_prefs_usagedailytotal.completion_tokens + EXCLUDED.completion_tokens,
    cost_usd = logging_prefs_usagedailytotal.cost_usd + EXCLUDED.cost_usd
"""


def _add_to_usage_totals(rows: list[dict]) -> None:
    """Add the rows this batch stored into the person's UsageDailyTotal rows, in the
    batch's transaction: the totals and the rows commit (or roll back) together."""
    if not rows:
        return
    totals: dict[tuple, list] = {}
    for row in rows:
        total = totals.setdefault(_usage_group(row), [0, 0, 0, Decimal(0)])
        total[0] += 1
        total[1] += row["prompt_tokens"]
        total[2] += row["completion_tokens"]
        total[3] += row["cost_usd"]
    groups = sorted(totals.items(), key=lambda item: tuple(str(part) for part in item[0]))
    columns = [list(column) for column in zip(*(key + tuple(v) for key, v in groups), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_UPSERT, columns)


def do_ingest_generations(*, records: list[object]) -> IngestResult:
    """Store a batch of generation records posted by the gateway.

    Each record is validated on its own: a bad one is rejected with its index and a
    reason, the rest are stored. Metadata is always stored (billing); prompt and
    completion text only when the key's effective setting allows it now.
    Side effects: inserts Generation rows and adds them into UsageDailyTotal in one
    transaction; after commit, moves
    the keys' last_used_at forward.
    """
    result = IngestResult()
    valid: list[tuple[int, GenerationRecord]] = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(records):
        record, error = validate_record(raw)
        if error:
            result.rejected.append({"index": index, "error": error})
            continue
        if record.id in seen_ids:
            result.duplicates += 1
            continue
        seen_ids.add(record.id)
        valid.append((index, record))

    now = timezone.now()
    with transaction.atomic():
        states = _lock_key_states(sorted({record.key_id for _, record in valid}))
        rows = []
        for index, record in valid:
            state = states.get(record.key_id)
            if state is None:
                result.rejected.append({"index": index, "error": "key_id: unknown API key"})
                continue
            rows.append(_build_row(record, state, now))
        inserted = _insert_new(rows)
        _add_to_usage_totals([row for row in rows if row["gateway_id"] in inserted])

    last_used: dict[int, dt.datetime] = {}
    for row in rows:
        if row["gateway_id"] not in inserted:
            result.duplicates += 1
            continue
        result.stored += 1
        if row["text_state"] == Generation.TextState.STORED:
            result.with_text += 1
        key_id, created_at = row["api_key_id"], row["created_at"]
        last_used[key_id] = max(last_used.get(key_id, created_at), created_at)
    result.rejected.sort(key=lambda rejection: rejection["index"])
    _touch_keys(last_used)
    return result


def _touch_keys(last_used: dict[int, dt.datetime]) -> None:
    for key_id, used_at in last_used.items():
        ApiKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at - LAST_USED_RESOLUTION),
            pk=key_id,
        ).update(last_used_at=used_at)
