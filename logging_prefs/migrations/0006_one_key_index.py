"""One index on the key, (api_key, created_at DESC, id DESC), instead of (user, key,
created_at DESC, id DESC) plus (key) (see Generation.Meta.indexes).

The indexes are built and dropped CONCURRENTLY (no lock that stops ingestion while a
large table is indexed), the new one first, so the key filter and the key's foreign-key
lookups always have an index.
"""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("logging_prefs", "0005_billing_daily_totals"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("api_key__isnull", False)),
                fields=["api_key", "-created_at", "-id"],
                name="gen_key_created",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="generation",
            name="gen_user_key",
        ),
        RemoveIndexConcurrently(
            model_name="generation",
            name="gen_api_key",
        ),
    ]
