"""allauth's session tracking is throttled: a page view does not write to the database."""

from __future__ import annotations

import datetime as dt

import pytest
from allauth.usersessions.models import UserSession
from django.utils import timezone

from accounts.middleware import TRACK_INTERVAL_SECONDS

pytestmark = pytest.mark.django_db


def test_a_signed_in_page_view_writes_nothing_within_the_tracking_interval(
    signed_in_client, user, django_assert_max_num_queries
):
    session = UserSession.objects.get(user=user)
    signed_in_client.get("/account/")  # the first request after sign-in tracks
    with django_assert_max_num_queries(10) as captured:
        signed_in_client.get("/account/")
    writes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))
    ]
    assert writes == []
    assert UserSession.objects.filter(pk=session.pk).exists()


def test_last_seen_is_updated_again_after_the_interval(signed_in_client, user, monkeypatch):
    signed_in_client.get("/account/")
    session = UserSession.objects.get(user=user)
    long_ago = timezone.now() - dt.timedelta(days=1)
    UserSession.objects.filter(pk=session.pk).update(last_seen_at=long_ago)

    signed_in_client.get("/account/")
    session.refresh_from_db()
    assert session.last_seen_at == long_ago  # throttled: not written again yet

    from django.core.cache import cache

    # The interval has passed: the marker in the cache has expired.
    cache.delete(f"usersessions:tracked:{signed_in_client.session.session_key}")
    signed_in_client.get("/account/")
    session.refresh_from_db()
    assert session.last_seen_at > long_ago
    assert TRACK_INTERVAL_SECONDS >= 60
