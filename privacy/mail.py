"""The privacy lifecycle's mails: a subject and a body template each, under
templates/privacy/email/ (<name>_subject.txt, <name>_message.txt), plain text."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from portal.contact import reply_to


def render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """The mail `name`'s subject (one line) and body."""
    subject = render_to_string(f"privacy/email/{name}_subject.txt", context)
    body = render_to_string(f"privacy/email/{name}_message.txt", context)
    return " ".join(subject.split()), body


def send(name: str, context: dict[str, Any], to: str) -> None:
    """Render the mail `name` and send it to `to` from DEFAULT_FROM_EMAIL, a reply going
    to support. Raises what the mail backend raises (OSError, SMTPException): callers
    that send inside their transaction let it roll the step back."""
    subject, body = render(name, context)
    EmailMessage(subject, body, to=[to], reply_to=reply_to()).send()
