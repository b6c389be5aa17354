"""One index on the key, (api_key, created_at DESC, id DESC), instead of (user, key,
created_at DESC, id DESC) plus (key) (see Generation.Meta.indexes).

On PostgreSQL the indexes are built and dropped CONCURRENTLY (no lock that stops
ingestion while a large table is indexed), the new one first, so the key filter and
the key's foreign-key lookups always have an index. Elsewhere (SQLite) plainly.
"""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


def online(concurrently, plain):
    """The operation `concurrently` on PostgreSQL, `plain` elsewhere (no CONCURRENTLY)."""

    def pick(schema_editor):
        return concurrently if schema_editor.connection.vendor == "postgresql" else plain

    class Online(concurrently):
        def database_forwards(self, app_label, schema_editor, from_state, to_state):
            return pick(schema_editor).database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

        def database_backwards(self, app_label, schema_editor, from_state, to_state):
            return pick(schema_editor).database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )

    Online.__name__ = Online.__qualname__ = plain.__name__ + "Online"
    return Online


AddIndexOnline = online(AddIndexConcurrently, migrations.AddIndex)
RemoveIndexOnline = online(RemoveIndexConcurrently, migrations.RemoveIndex)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("logging_prefs", "0005_billing_daily_totals"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("api_key__isnull", False)),
                fields=["api_key", "-created_at", "-id"],
                name="gen_key_created",
            ),
        ),
        RemoveIndexOnline(
            model_name="generation",
            name="gen_user_key",
        ),
        RemoveIndexOnline(
            model_name="generation",
            name="gen_api_key",
        ),
    ]
