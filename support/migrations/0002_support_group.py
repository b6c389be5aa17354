"""The "Support" group (privacy migration 0004) sees and processes tickets:
support.view_ticket, support.change_ticket. "Change" only unlocks the admin's answer and
convert steps, which go through support.actions; every field of a ticket is read-only
in the admin, and nobody deletes one there.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = [("support", "ticket", "view_ticket"), ("support", "ticket", "change_ticket")]


def _permissions(apps, using):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.using(using).get(
            content_type__app_label=app_label, content_type__model=model, codename=codename
        )
        for app_label, model, codename in PERMISSIONS
    ]


def forwards(apps, schema_editor):
    using = schema_editor.connection.alias
    create_permissions(global_apps.get_app_config("support"), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(using).filter(name=GROUP).first()
    if group is not None:
        group.permissions.add(*_permissions(apps, using))


def backwards(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(using).filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*_permissions(apps, using))


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0004_support_group"),
        ("support", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
