"""Migration 0008 adds the usage summary (UsageDailyTotal) and fills it from the
generations already stored: afterwards it holds exactly their sums, per person, UTC day,
key, model, provider and app, and nothing for rows without a person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from logging_prefs.models import UsageDailyTotal
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.helpers.migrations import migrate_to_latest

BEFORE = ("logging_prefs", "0007_generation_key_without_constraint")
PLUS_2 = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.django_db(transaction=True)
def test_migration_adds_up_the_stored_generations_per_utc_day():
    try:
        user = UserFactory()
        key = ApiKeyFactory(user=user)
        executor = MigrationExecutor(connection)
        executor.migrate([BEFORE])
        executor.loader.build_graph()
        old_apps = executor.loader.project_state([BEFORE]).apps
        Generation = old_apps.get_model("logging_prefs", "Generation")
        rows = [
            # (created_at, model, app title, cost): the second is 22:30 UTC on March 1st.
            (dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC), "a/one", "Notes", "0.10000000"),
            (dt.datetime(2026, 3, 2, 0, 30, tzinfo=PLUS_2), "a/one", "Notes", "0.00000001"),
            (dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), "a/one", "Notes", "0.20000000"),
            (dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), "b/two", "", "0.30000000"),
        ]
        Generation.objects.bulk_create(
            Generation(
                gateway_id=f"gen-mig-{n}",
                user_id=user.pk,
                api_key_id=key.pk,
                model=model,
                provider="P",
                app_url="",
                app_title=title,
                text_state="not_logged",
                prompt_tokens=10,
                completion_tokens=n,
                cost_usd=Decimal(cost),
                created_at=created_at,
            )
            for n, (created_at, model, title, cost) in enumerate(rows)
        )
        # A row without a person (anonymised in place, as the purge once did): not summed.
        Generation.objects.create(
            gateway_id="gen-mig-anonymous", model="a/one", provider="P", text_state="expired",
            prompt_tokens=1, completion_tokens=1, cost_usd=Decimal(1), created_at=rows[0][0],
        )  # fmt: skip

        migrate_to_latest()

        totals = {
            (t.day, t.model, t.app_title): (t.generations, t.completion_tokens, t.cost_usd)
            for t in UsageDailyTotal.objects.filter(user=user, api_key_id=key.pk)
        }
        assert totals == {
            (dt.date(2026, 3, 1), "a/one", "Notes"): (2, 1, Decimal("0.10000001")),
            (dt.date(2026, 3, 2), "a/one", "Notes"): (1, 2, Decimal("0.20000000")),
            (dt.date(2026, 3, 2), "b/two", ""): (1, 3, Decimal("0.30000000")),
        }
        assert UsageDailyTotal.objects.count() == 3
    finally:
        migrate_to_latest()
