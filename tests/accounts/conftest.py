"""Fixtures of the identity tests: a person, and a client signed in as them."""

from __future__ import annotations

import pytest

from tests.factories.accounts import UserFactory
from tests.helpers.accounts import is_signed_in, login


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def signed_in_client(client, user):
    """A client signed in through the real login form (so allauth records it)."""
    response = login(client, user.email)
    assert response.status_code == 302, response.content
    assert is_signed_in(client)
    return client
