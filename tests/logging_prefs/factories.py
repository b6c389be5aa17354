"""Test data for the logging pages, built through the real actions where they exist."""

from __future__ import annotations

import datetime as dt
import itertools

from django.test import Client
from django.utils import timezone

from accounts.actions import do_create_api_key
from accounts.models import ApiKey, User
from logging_prefs.actions import do_ingest_generations
from logging_prefs.models import Generation, PreferenceChange
from tests.factories import UserFactory

_gateway_ids = itertools.count(1)


def make_user(**kwargs) -> User:
    return UserFactory(**kwargs)


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def make_key(user: User, name: str = "My app", logging: str = ApiKey.Logging.AS_ACCOUNT) -> ApiKey:
    api_key, _raw = do_create_api_key(user=user, acting_user=user, name=name, logging=logging)
    return api_key


def generation_record(api_key: ApiKey, created_at: dt.datetime, **overrides) -> dict:
    """A record as the gateway posts it (gateway.schemas.GenerationRecord)."""
    record = {
        "id": f"gen-{next(_gateway_ids):08d}",
        "key_id": api_key.pk,
        "model": "openai/gpt-4o",
        "provider": "OpenAI",
        "app_url": "https://chat.example.com/",
        "app_title": "Example Chat",
        "prompt": "Translate 'hello' into French.",
        "completion": "Bonjour.",
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "cost_usd": "0.00012500",
        "created_at": created_at.isoformat(),
    }
    record.update(overrides)
    return record


def ingest(
    api_key: ApiKey,
    count: int = 1,
    *,
    newest: dt.datetime | None = None,
    step: dt.timedelta = dt.timedelta(minutes=1),
    **overrides,
) -> list[Generation]:
    """Ingest `count` generations for the key through do_ingest_generations, one `step`
    apart, the newest at `newest`; return them newest first."""
    newest = newest or timezone.now() - dt.timedelta(minutes=1)
    records = [
        generation_record(api_key, newest - step * index, **overrides) for index in range(count)
    ]
    for start in range(0, len(records), 1000):
        result = do_ingest_generations(records=records[start : start + 1000])
        assert not result.rejected, result.rejected
    ids = [record["id"] for record in records]
    return list(Generation.objects.filter(gateway_id__in=ids).order_by("-created_at", "-id"))


def set_text_state(generation: Generation, state: str) -> Generation:
    """What retention expiry or a deletion request leaves behind: metadata, no text."""
    Generation.objects.filter(pk=generation.pk).update(
        text_state=state, prompt=None, completion=None
    )
    generation.refresh_from_db()
    return generation


def make_history(user: User, count: int, *, api_key: ApiKey | None = None) -> None:
    """`count` audit rows; every other one about `api_key` when given."""
    now = timezone.now()
    rows = []
    for index in range(count):
        about_key = api_key is not None and index % 2 == 0
        rows.append(
            PreferenceChange(
                user=user,
                actor_id=user.pk,
                actor_is_user=True,
                api_key=api_key if about_key else None,
                setting="key_logging" if about_key else "log_prompts",
                old_value="account" if about_key else "on",
                new_value="never" if about_key else "off",
                changed_at=now - dt.timedelta(minutes=index + 1),
            )
        )
    PreferenceChange.objects.bulk_create(rows)
