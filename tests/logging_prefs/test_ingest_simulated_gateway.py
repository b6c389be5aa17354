"""`manage.py simulate_gateway`: demo generations posted through the real gateway API."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from accounts.actions import do_revoke_api_key
from accounts.management.commands.load_demo_data import DEMO_USER
from accounts.models import ApiKey, User
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user(settings) -> User:
    settings.DEBUG = True  # demo data is for development only
    call_command("load_demo_data", stdout=io.StringIO())
    return User.objects.get(email=DEMO_USER[0])


def _simulate(*args: str) -> str:
    out = io.StringIO()
    call_command("simulate_gateway", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_simulate_gateway_posts_realistic_generations_for_the_demo_user(demo_user, monkeypatch):
    import gateway.api

    posted = []
    real_ingest = gateway.api.do_ingest_generations

    def spy(*, records):
        posted.append(len(records))
        return real_ingest(records=records)

    # Proof that the records went through the API view, not straight to the action.
    monkeypatch.setattr(gateway.api, "do_ingest_generations", spy)

    output = _simulate("--count", "120", "--seed", "7")

    assert posted == [120]
    assert "Created the API key 'Demo app'" in output
    assert "stored 120 (120 with prompt text), duplicates 0, rejected 0" in output
    key = ApiKey.objects.get(user=demo_user)
    assert key.name == "Demo app"
    rows = Generation.objects.filter(user=demo_user, api_key=key)
    assert rows.count() == 120
    assert len(set(rows.values_list("model", flat=True))) >= 4
    assert len(set(rows.values_list("provider", flat=True))) >= 5
    assert len(set(rows.values_list("app_title", flat=True))) >= 5
    now = timezone.now()
    for row in rows:
        assert now - dt.timedelta(days=30) <= row.created_at <= now
        assert row.prompt and row.completion
        assert row.prompt_tokens > 0 and row.completion_tokens > 0
        # A free endpoint (a ":free" model of the demo catalog) costs nothing.
        assert row.cost_usd == 0 if row.model.endswith(":free") else row.cost_usd > 0
    spread = rows.order_by("created_at").values_list("created_at", flat=True)
    assert spread.last() - spread.first() > dt.timedelta(days=20)


def test_simulate_gateway_reuses_an_active_key_and_never_repeats_an_id(demo_user):
    _simulate("--count", "30")
    _simulate("--count", "30")
    assert ApiKey.objects.filter(user=demo_user).count() == 1
    assert Generation.objects.filter(user=demo_user).count() == 60


def test_simulate_gateway_makes_a_new_key_when_every_key_is_revoked(demo_user):
    _simulate("--count", "5")
    old = ApiKey.objects.get(user=demo_user)
    do_revoke_api_key(api_key=old, acting_user=demo_user)
    _simulate("--count", "5")
    new = ApiKey.objects.get(user=demo_user, revoked_at__isnull=True)
    assert new.pk != old.pk
    assert Generation.objects.filter(api_key=new).count() == 5


def test_simulate_gateway_respects_the_demo_users_opt_out(demo_user):
    do_set_logging_preferences(
        user=demo_user, acting_user=demo_user, changes={"log_prompts": False}
    )
    output = _simulate("--count", "20")
    assert "stored 20 (0 with prompt text)" in output
    assert not Generation.objects.filter(user=demo_user, prompt__isnull=False).exists()


def test_simulate_gateway_works_without_a_configured_token(demo_user):
    with override_settings(PORTAL_GATEWAY_TOKEN=""):
        output = _simulate("--count", "10")
    assert "using a temporary token" in output
    assert "stored 10" in output


def test_simulate_gateway_needs_the_demo_user(db):
    with pytest.raises(CommandError, match="load_demo_data"):
        _simulate("--count", "10")
