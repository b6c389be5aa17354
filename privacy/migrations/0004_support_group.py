"""The "Support" group: the least privileges support staff need to process deletion
requests, terminations and under-13 reports in the admin (privacy/README.md, "Support").

- accounts.view_user: find the account a request is about; no change_user, so no
  password, email, group or permission changes.
- privacy.view_deletionrequest, privacy.change_deletionrequest: see and process
  requests; "change" here only unlocks the admin's verify/schedule/reject/open views,
  which go through privacy.actions (every field of a request is read-only in the admin).
- privacy.view_auditevent: read the trail; no add/change/delete (append-only).
- privacy.view_termination, privacy.terminate_account, privacy.report_under_13: see
  terminations, terminate an account with notice, act on an under-13 report.
Not granted: privacy.set_legal_hold (a legal decision, not support's), anything on
logging_prefs (no generation, so no prompt or completion text), auth or sessions.

Permissions are normally created after `migrate` (post_migrate); they are created here
first so the group gets them on a fresh database too.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = [
    ("accounts", "user", "view_user"),
    ("privacy", "deletionrequest", "view_deletionrequest"),
    ("privacy", "deletionrequest", "change_deletionrequest"),
    ("privacy", "auditevent", "view_auditevent"),
    ("privacy", "termination", "view_termination"),
    ("privacy", "termination", "terminate_account"),
    ("privacy", "termination", "report_under_13"),
]


def forwards(apps, schema_editor):
    using = schema_editor.connection.alias
    for label in ("accounts", "privacy"):
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name=GROUP)
    wanted = [
        Permission.objects.using(using).get(
            content_type__app_label=app_label, content_type__model=model, codename=codename
        )
        for app_label, model, codename in PERMISSIONS
    ]
    # Exactly these: re-running the migration also takes back anything added by hand.
    group.permissions.set(wanted)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("privacy", "0003_support_termination"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
