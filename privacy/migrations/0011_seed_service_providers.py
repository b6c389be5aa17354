"""Who a deployment of this portal shares personal data with, as /legal/service-providers/
first lists it; and the "Support" group (0004) may read that list in the admin
(privacy.view_serviceprovider), while only superusers change it.

The rows are what the portal itself uses: a host, a mail relay, the model providers,
and the three analytics services it can load, each listed only while an operator
configures it (PORTAL_ANALYTICS_PROVIDER). Administrators name their own host and mail
provider in the admin. Frozen here: a later change to the list is made in the admin (or
a new migration), never by editing this one.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = [("privacy", "serviceprovider", "view_serviceprovider")]

PROVIDERS = [
    {
        "position": 10,
        "name": "Hosting provider (named by the operator)",
        "purpose": (
            "Runs the portal's servers: the web application, its database, its cache and "
            "its backups."
        ),
        "data_received": (
            "Everything the portal stores: your account (email or wallet address, display "
            "name, sign-ins), your API keys' records, your requests' metadata, the prompts "
            "and completions you let us store, and the audit trail of your requests."
        ),
        "location": "The data centre where the operator runs the portal.",
        "analytics": "",
    },
    {
        "position": 20,
        "name": "Email delivery (named by the operator)",
        "purpose": (
            "Delivers the portal's mail: address confirmations, password resets, security "
            "notices, and the notices about deletions and terminations."
        ),
        "data_received": "Your email address and the text of each mail sent to you.",
        "location": "Where the operator's mail provider runs.",
        "analytics": "",
    },
    {
        "position": 30,
        "name": "AI model providers",
        "purpose": "Answer the requests you send with your API key.",
        "data_received": (
            "The prompts you send and the completions they return, for the providers your "
            "privacy choices allow; no name, email address or wallet."
        ),
        "location": "Each provider's own: see its data policy on the model page.",
        "analytics": "",
    },
    {
        "position": 40,
        "name": "Plausible Analytics (Plausible Insights OÜ)",
        "purpose": "Counts page visits, only for visitors who accept analytics.",
        "data_received": (
            "The address of each page you open, the page you came from, your browser, "
            "operating system and device type, and a country from your IP address. No "
            "cookie; the IP address is not stored."
        ),
        "location": (
            "The European Union (Plausible's cloud; servers in Germany), or the operator's "
            "own server if self-hosted."
        ),
        "analytics": "plausible",
    },
    {
        "position": 40,
        "name": "Matomo (run by the operator)",
        "purpose": "Counts page visits, only for visitors who accept analytics.",
        "data_received": (
            "The address of each page you open, the page you came from, your browser and "
            "device, a visitor identifier (cookie) and your IP address."
        ),
        "location": "The operator's own Matomo server.",
        "analytics": "matomo",
    },
    {
        "position": 40,
        "name": "Google Analytics (Google LLC, Google Ireland Limited)",
        "purpose": "Counts page visits, only for visitors who accept analytics.",
        "data_received": (
            "The address of each page you open, the page you came from, your browser and "
            "device, a visitor identifier (the _ga cookies) and your IP address, from "
            "which Google derives a rough location."
        ),
        "location": (
            "Google's servers, including in the United States: data of a visitor who "
            "accepts it leaves the country."
        ),
        "analytics": "google",
    },
]


def forwards(apps, schema_editor):
    using = schema_editor.connection.alias
    ServiceProvider = apps.get_model("privacy", "ServiceProvider")
    if not ServiceProvider.objects.using(using).exists():
        ServiceProvider.objects.using(using).bulk_create(
            ServiceProvider(**row) for row in PROVIDERS
        )
    create_permissions(global_apps.get_app_config("privacy"), verbosity=0, using=using, apps=apps)
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
    ServiceProvider = apps.get_model("privacy", "ServiceProvider")
    ServiceProvider.objects.using(schema_editor.connection.alias).filter(
        name__in=[row["name"] for row in PROVIDERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0010_service_providers_terms"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
