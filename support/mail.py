"""The tickets' mails: a subject and a body template each, under templates/support/email/
(<name>_subject.txt, <name>_message.txt), plain text, a reply going to support."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from portal.contact import reply_to


def render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    subject = render_to_string(f"support/email/{name}_subject.txt", context)
    body = render_to_string(f"support/email/{name}_message.txt", context)
    return " ".join(subject.split()), body


def send(name: str, context: dict[str, Any], to: str) -> None:
    """Raises what the mail backend raises (OSError, SMTPException)."""
    subject, body = render(name, context)
    EmailMessage(subject, body, to=[to], reply_to=reply_to()).send()
