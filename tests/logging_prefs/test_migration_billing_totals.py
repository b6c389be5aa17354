"""Migration 0005 replaces the per-generation billing ledger (BillingRecord, one row per
archived generation) with daily totals (BillingDailyTotal), and folds the rows already
kept into those totals before it drops the old table.

The promise: nothing accounting kept is lost or changed by the migration. Every
BillingRecord is counted once in the totals of its UTC day (not the day of the offset
it was written with), model and provider, with its tokens and cost summed exactly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.helpers.migrations import migrate_to_latest
from tests.helpers.privacy import ledger_totals

BEFORE_TOTALS = ("logging_prefs", "0004_billingrecord")

UTC = dt.UTC
PLUS_2 = dt.timezone(dt.timedelta(hours=2))
MINUS_5 = dt.timezone(dt.timedelta(hours=-5))
GPT, OPENAI, AZURE = "openai/gpt-4o", "OpenAI", "Azure"
CLAUDE, ANTHROPIC = "anthropic/claude-3.5-sonnet", "Anthropic"
MARCH_1, MARCH_2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)

# (model, provider, prompt tokens, completion tokens, cost, created_at)
RECORDS = [
    (GPT, OPENAI, 100, 20, "0.00120000", dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
    # 00:30 on March 2nd at +02:00 is 22:30 on March 1st in UTC.
    (GPT, OPENAI, 250, 75, "0.00310000", dt.datetime(2026, 3, 2, 0, 30, tzinfo=PLUS_2)),
    # The same model from another provider is a total of its own.
    (GPT, AZURE, 5, 6, "0.00000300", dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),
    (CLAUDE, ANTHROPIC, 11, 13, "0.50000000", dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
    # 23:30 on March 1st at -05:00 is 04:30 on March 2nd in UTC.
    (CLAUDE, ANTHROPIC, 40, 400, "0.01500000", dt.datetime(2026, 3, 1, 23, 30, tzinfo=MINUS_5)),
    (CLAUDE, ANTHROPIC, 7, 3, "0.00000042", dt.datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)),
    (GPT, OPENAI, 1, 2, "0.00000001", dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
]

# Worked out by hand: (UTC day, model, provider) -> (generations, prompt tokens,
# completion tokens, cost). Grouped by the day of each offset instead, the two records
# written near midnight would each land in the other day.
EXPECTED = {
    (MARCH_1, GPT, OPENAI): (2, 350, 95, Decimal("0.00430000")),
    (MARCH_1, GPT, AZURE): (1, 5, 6, Decimal("0.00000300")),
    (MARCH_1, CLAUDE, ANTHROPIC): (1, 11, 13, Decimal("0.50000000")),
    (MARCH_2, CLAUDE, ANTHROPIC): (2, 47, 403, Decimal("0.01500042")),
    (MARCH_2, GPT, OPENAI): (1, 1, 2, Decimal("0.00000001")),
}


@pytest.mark.django_db(transaction=True)
def test_migration_folds_existing_billing_records_into_utc_daily_totals():
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([BEFORE_TOTALS])
        executor.loader.build_graph()
        assert BEFORE_TOTALS in executor.loader.applied_migrations
        assert ("logging_prefs", "0005_billing_daily_totals") not in (
            executor.loader.applied_migrations
        )

        # The per-generation ledger as 0004 left it, written through its historical model.
        old_apps = executor.loader.project_state([BEFORE_TOTALS]).apps
        BillingRecord = old_apps.get_model("logging_prefs", "BillingRecord")
        BillingRecord.objects.bulk_create(
            BillingRecord(
                gateway_id=f"gen-{n}",
                model=model,
                provider=provider,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=Decimal(cost),
                created_at=created_at,
            )
            for n, (model, provider, prompt, completion, cost, created_at) in enumerate(RECORDS)
        )
        assert BillingRecord.objects.count() == len(RECORDS)

        migrate_to_latest()

        totals = ledger_totals()
        assert totals == EXPECTED
        # Each record counted once; the old table is gone with the model.
        assert sum(total[0] for total in totals.values()) == len(RECORDS)
        assert BillingRecord._meta.db_table not in connection.introspection.table_names()
    finally:
        # Whatever happened above, the tests after this one need the whole schema.
        migrate_to_latest()
