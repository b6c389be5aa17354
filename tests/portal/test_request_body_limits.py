"""Request bodies: Django's default limit (2.5 MB) on every URL, the gateway's
generations endpoint alone excepted (tests/gateway/test_ingest.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

OVER_THE_LIMIT = "x" * (2_621_440 + 1)


def test_the_portal_keeps_djangos_default_body_limit():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440


@pytest.mark.parametrize(
    "path, form",
    [
        ("/accounts/login/", {"login": OVER_THE_LIMIT, "password": "x"}),
        ("/legal/cookies/ok/", {"next": OVER_THE_LIMIT}),
        ("/accounts/wallet/login/", {"message": OVER_THE_LIMIT, "signature": "0x00"}),
    ],
)
def test_a_form_over_djangos_limit_is_refused_with_a_400(path, form):
    response = Client().post(path, form)
    assert response.status_code == 400
    assert "Bad request" in response.text


def test_a_signed_in_form_over_djangos_limit_is_refused_and_changes_nothing():
    user = UserFactory(display_name="Before")
    client = Client()
    client.force_login(user)
    response = client.post("/account/profile/", {"display_name": "After", "pad": OVER_THE_LIMIT})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.display_name == "Before"
