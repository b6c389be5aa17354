"""Where data lives: the regions the portal, its backups, its mail and the catalog's
endpoints can be in, named by a short code. The policy says "We do not transfer your
personal data internationally": PORTAL_DATA_REGION names the region the portal runs in
(its database, so the accounts and the stored prompts), the privacy page's "Keep my
requests in <region>" choice keeps the gateway on that region's endpoints, and
/legal/data-location/ says where each kind of data is kept.

An unknown code in the settings fails `manage.py check` (portal.E001), as the other
settings that the pages quote do.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# Code -> the region's name as a sentence uses it ("kept in the European Union"). A
# jurisdiction, not a data centre: moving data between two of these is an international
# transfer. Endpoint.region's choices come from here (a new code needs a migration).
REGIONS: dict[str, str] = {
    "eu": "the European Union",
    "uk": "the United Kingdom",
    "ch": "Switzerland",
    "us": "the United States",
    "ca": "Canada",
    "jp": "Japan",
    "sg": "Singapore",
    "cn": "China",
}

REGION_CHOICES = [(code, name.removeprefix("the ")) for code, name in REGIONS.items()]

# The settings that name a region, each checked at start-up.
REGION_SETTINGS = ("PORTAL_DATA_REGION", "PORTAL_BACKUP_REGION", "PORTAL_MAIL_REGION")


def region_name(code: str) -> str:
    """The region's name in a sentence, or the code itself when the list lacks it."""
    return REGIONS.get(code, code)


def data_region() -> str:
    """The region the portal runs in: its database, so every account and stored prompt."""
    return settings.PORTAL_DATA_REGION


def data_region_name() -> str:
    return region_name(data_region())


def data_locations() -> list[tuple[str, str, str]]:
    """(what, region code, region name) for each kind of data /legal/data-location/
    names, from the settings."""
    rows = [
        ("account", settings.PORTAL_DATA_REGION),
        ("prompts", settings.PORTAL_DATA_REGION),
        ("backups", settings.PORTAL_BACKUP_REGION),
        ("mail", settings.PORTAL_MAIL_REGION),
    ]
    return [(what, code, region_name(code)) for what, code in rows]


def check_region_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name in REGION_SETTINGS:
        value = getattr(settings, name, None)
        if value not in REGIONS:
            errors.append(
                checks.Error(
                    f"{name} is {value!r}; it must be one of {', '.join(REGIONS)}.",
                    hint="Set it to the code of the region where that data is kept.",
                    id="portal.E001",
                )
            )
    return errors


def register_checks() -> None:
    checks.register(check_region_settings)
