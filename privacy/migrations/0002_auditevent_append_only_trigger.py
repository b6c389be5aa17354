"""The audit trail refuses UPDATE and DELETE from any client, raw SQL
included (the model refuses them in Python; this holds for everything else).

TRUNCATE is left alone: it is the test runner's table reset, never used by the portal.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION privacy_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'privacy_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER privacy_auditevent_append_only
    BEFORE UPDATE OR DELETE ON privacy_auditevent
    FOR EACH ROW EXECUTE FUNCTION privacy_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS privacy_auditevent_append_only ON privacy_auditevent;
DROP FUNCTION IF EXISTS privacy_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
