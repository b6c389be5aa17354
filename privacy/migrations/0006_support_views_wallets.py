"""The "Support" group (0004) also sees an account's wallets: accounts.view_wallet.

A wallet account has no email address; its wallet address is how support finds it and
tells it apart (the admin's account page lists them, read-only). Seeing an address
changes nothing: linking and removing stay the person's own.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = [("accounts", "wallet", "view_wallet")]


def forwards(apps, schema_editor):
    using = schema_editor.connection.alias
    create_permissions(global_apps.get_app_config("accounts"), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(using).filter(name=GROUP).first()
    if group is None:
        return
    group.permissions.add(
        *(
            Permission.objects.using(using).get(
                content_type__app_label=app_label, content_type__model=model, codename=codename
            )
            for app_label, model, codename in PERMISSIONS
        )
    )


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(schema_editor.connection.alias).filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="accounts", codename="view_wallet"
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_wallets"),
        ("privacy", "0005_audit_data_downloaded"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
