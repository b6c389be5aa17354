"""Fixtures for the account pages: a user, and a client signed in as them."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import signed_in


@pytest.fixture
def user() -> User:
    return UserFactory()


@pytest.fixture
def user_client(client, user) -> Client:
    return signed_in(client, user)
