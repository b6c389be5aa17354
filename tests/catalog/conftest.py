"""The gateway's client for the routes API tests."""

from __future__ import annotations

import pytest

from tests.helpers.gateway import GatewayClient


@pytest.fixture
def gateway() -> GatewayClient:
    return GatewayClient()
