"""How people reach support: the address and the Discord server from settings
(PORTAL_SUPPORT_EMAIL, PORTAL_DISCORD_URL), for every page (the footer, /contact/, the
policy's own words) and as the Reply-To of every mail the portal sends, whose sender is
a no-reply address."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def support_email() -> str:
    return settings.PORTAL_SUPPORT_EMAIL


def discord_url() -> str:
    """The Discord invitation, or "" when none is configured (then no link is shown)."""
    return settings.PORTAL_DISCORD_URL


def reply_to() -> list[str]:
    """The Reply-To of every outgoing mail: a reply reaches support."""
    return [support_email()]


def contact(request: HttpRequest) -> dict:
    """`support_email` and `discord_url` for every template."""
    return {"support_email": support_email(), "discord_url": discord_url()}
