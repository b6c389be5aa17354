"""Fixtures for the support tests: the contact form posted as a browser posts it."""

from __future__ import annotations

import pytest
from django.test import Client

_CONTACT = "/contact/"


def _contact_post(
    client: Client,
    *,
    kind: str = "question",
    email: str = "someone@example.com",
    message: str = "How do I rotate an API key?",
    ip: str = "203.0.113.7",
    **extra,
):
    data = {"kind": kind, "email": email, "message": message, **extra}
    return client.post(_CONTACT, data, REMOTE_ADDR=ip)


@pytest.fixture
def contact_post(django_capture_on_commit_callbacks):
    """Post the contact form as a browser does (from `ip`), running what the view leaves
    for after commit (the confirmation mail), as the end of a real request does."""

    def post(client: Client, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return _contact_post(client, **kwargs)

    return post
