"""catalog 0002: the endpoints catalogued before regions existed get the region their
provider publishes, or "us" (where most providers serve from), never the portal's own
by guess; an endpoint outside the portal's region is then refused until staff say
otherwise."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.helpers.migrations import migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("catalog", "0001_initial")]
AFTER = [("catalog", "0002_endpoint_region")]


def test_existing_endpoints_are_backfilled_by_provider():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        Provider = apps.get_model("catalog", "Provider")
        LanguageModel = apps.get_model("catalog", "LanguageModel")
        Endpoint = apps.get_model("catalog", "Endpoint")
        model = LanguageModel.objects.create(author="acme", slug="old", name="Old")
        for slug in ("mistral", "deepseek", "someone-new"):
            Endpoint.objects.create(
                model=model,
                provider=Provider.objects.create(slug=slug, name=slug),
                input_price=1,
                output_price=2,
            )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        apps = executor.loader.project_state(AFTER).apps
        Endpoint = apps.get_model("catalog", "Endpoint")
        regions = dict(Endpoint.objects.values_list("provider__slug", "region"))
        assert regions == {"mistral": "eu", "deepseek": "cn", "someone-new": "us"}
    finally:
        migrate_to_latest()
