"""Fixtures for the gateway API tests: a client that speaks for the gateway, and an
account with a key created through the real action."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.factories.accounts import UserFactory
from tests.helpers.gateway import GatewayClient, Key, create_key


@pytest.fixture
def gateway() -> GatewayClient:
    return GatewayClient()


@pytest.fixture
def account(db) -> User:
    return UserFactory()


@pytest.fixture
def key(account) -> Key:
    return create_key(account)
