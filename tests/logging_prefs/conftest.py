"""Fixtures for the gateway API tests: a client that speaks for the gateway, an account
with a key created through the real action. For the account pages: a user, and a client
signed in as them."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories.accounts import UserFactory
from tests.support.accounts import signed_in
from tests.support.gateway import GatewayClient, Key, create_key


@pytest.fixture
def gateway() -> GatewayClient:
    return GatewayClient()


@pytest.fixture
def account(db) -> User:
    return UserFactory()


@pytest.fixture
def key(account) -> Key:
    return create_key(account)


@pytest.fixture
def user() -> User:
    return UserFactory()


@pytest.fixture
def user_client(client, user) -> Client:
    return signed_in(client, user)
