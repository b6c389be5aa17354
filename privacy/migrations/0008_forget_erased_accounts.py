"""Kept records forget an erased account (privacy/personal_data.py, register_record).

- DeletionRequest.user_id may be NULL: set so once the account's purge completes.
- AuditEvent: an index on actor_id (people's events only), for the purge to find an
  erased account's events; and the append-only trigger (0002) allows one change, only
  once the account row is gone: its id in actor_id becomes NULL, its data download's
  target `account:<id>` becomes `account:erased`. Every other UPDATE, and every DELETE,
  is still refused, raw SQL included.
"""

from django.db import migrations, models

FORGETTING = """
CREATE OR REPLACE FUNCTION privacy_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.id = OLD.id
        AND NEW.at = OLD.at
        AND NEW.action = OLD.action
        AND NEW.deletion_request_id IS NOT DISTINCT FROM OLD.deletion_request_id
        AND NEW.detail = OLD.detail
        AND (
            NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
            OR (
                NEW.actor_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM accounts_user WHERE id = OLD.actor_id)
            )
        )
        AND (
            NEW.target = OLD.target
            OR (
                NEW.target = 'account:erased'
                AND OLD.target ~ '^account:[0-9]+$'
                AND NOT EXISTS (
                    SELECT 1 FROM accounts_user WHERE id = substr(OLD.target, 9)::bigint
                )
            )
        )
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'privacy_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION privacy_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'privacy_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    schema_editor.execute(FORGETTING, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(APPEND_ONLY, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_policy_acknowledged"),
        ("privacy", "0007_policy_acknowledgements"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deletionrequest",
            name="user_id",
            field=models.BigIntegerField(
                blank=True,
                db_index=True,
                help_text="The account whose data is erased; empty once it is erased.",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("actor_id__isnull", False)),
                fields=["actor_id"],
                name="audit_actor",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
