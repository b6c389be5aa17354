"""What every mail the portal sends must carry."""

from __future__ import annotations

from django.conf import settings


def assert_replies_to_support(messages) -> None:
    """Each message has the support address as its Reply-To (portal/contact.py)."""
    for message in messages:
        assert message.reply_to == [settings.PORTAL_SUPPORT_EMAIL], (
            f"the mail {message.subject!r} to {message.to} has Reply-To {message.reply_to}"
        )
