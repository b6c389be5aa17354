"""Logging: generations as the gateway reports them, and the preferences' audit trail."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import ApiKey, User
from logging_prefs.actions import do_ingest_generations
from logging_prefs.models import Generation, PreferenceChange
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.helpers.markers import unique_marker


def _a_minute_ago() -> str:
    return (timezone.now() - dt.timedelta(minutes=1)).isoformat()


class GenerationRecordFactory(factory.DictFactory):
    """A record as the gateway posts it (gateway.schemas.GenerationRecord)."""

    id = factory.Sequence(lambda n: f"gen-{n + 1:08d}")
    key_id = None
    model = "openai/gpt-4o"
    provider = "OpenAI"
    app_url = "https://chat.example.com/"
    app_title = "Example Chat"
    prompt = "Translate 'hello' into French."
    completion = "Bonjour."
    prompt_tokens = 12
    completion_tokens = 3
    cost_usd = "0.00012500"
    created_at = factory.LazyFunction(_a_minute_ago)

    class Params:
        # A provider call that failed, as the LiteLLM plugin reports it: its kind of
        # failure, no text, no tokens, no cost.
        failed = factory.Trait(
            status="error",
            error_type="RateLimitError",
            prompt=None,
            completion=None,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd="0",
        )


def ingest_records(records: list[dict]) -> None:
    """Store gateway records through do_ingest_generations, a thousand per call; every
    record must be stored."""
    for start in range(0, len(records), 1000):
        result = do_ingest_generations(records=records[start : start + 1000])
        assert not result.rejected, result.rejected


class GenerationFactory(factory.Factory):
    """One generation of `api_key`, ingested through do_ingest_generations as the
    gateway reports it; the other fields are the record's (GenerationRecordFactory),
    `created_at` a datetime."""

    class Meta:
        model = Generation

    api_key = factory.SubFactory(ApiKeyFactory)

    @classmethod
    def _create(cls, model_class, *, api_key: ApiKey, **fields) -> Generation:
        if isinstance(fields.get("created_at"), dt.datetime):
            fields["created_at"] = fields["created_at"].isoformat()
        record = GenerationRecordFactory(key_id=api_key.pk, **fields)
        ingest_records([record])
        return Generation.objects.get(gateway_id=record["id"])


def ingest(
    api_key: ApiKey,
    count: int = 1,
    *,
    newest: dt.datetime | None = None,
    step: dt.timedelta = dt.timedelta(minutes=1),
    **overrides,
) -> list[Generation]:
    """`count` generations of the key in one ingestion (GenerationFactory's, batched),
    one `step` apart, the newest at `newest`; newest first."""
    newest = newest or timezone.now() - dt.timedelta(minutes=1)
    records = [
        GenerationRecordFactory(
            key_id=api_key.pk, created_at=(newest - step * index).isoformat(), **overrides
        )
        for index in range(count)
    ]
    ingest_records(records)
    ids = [record["id"] for record in records]
    return list(Generation.objects.filter(gateway_id__in=ids).order_by("-created_at", "-id"))


def set_text_state(generation: Generation, state: str) -> Generation:
    """What retention expiry or a deletion request leaves behind: metadata, no text.

    Writes the row itself: the purge and the retention task that do this are tested in
    tests/privacy/ and test_tasks_retention.py; here only the state they leave matters.
    """
    Generation.objects.filter(pk=generation.pk).update(
        text_state=state, prompt=None, completion=None
    )
    generation.refresh_from_db()
    return generation


class PreferenceChangeFactory(factory.django.DjangoModelFactory):
    """One row of the logging preferences' audit trail.

    Writes the row itself: do_set_logging_preferences and do_set_api_key_logging stamp
    their rows now, and the history pages need rows spread over the past.
    """

    class Meta:
        model = PreferenceChange

    user = factory.SubFactory(UserFactory)
    actor_id = factory.LazyAttribute(lambda change: change.user.pk)
    actor_is_user = True
    api_key = None
    setting = "log_prompts"
    old_value = "on"
    new_value = "off"
    changed_at = factory.LazyFunction(timezone.now)


def make_history(user: User, count: int, *, api_key: ApiKey | None = None) -> None:
    """`count` audit rows a minute apart; every other one about `api_key` when given."""
    now = timezone.now()
    for index in range(count):
        about_key = api_key is not None and index % 2 == 0
        PreferenceChangeFactory(
            user=user,
            api_key=api_key if about_key else None,
            setting="key_logging" if about_key else "log_prompts",
            old_value="account" if about_key else "on",
            new_value="never" if about_key else "off",
            changed_at=now - dt.timedelta(minutes=index + 1),
        )


def ingest_numbered(
    api_key: ApiKey,
    *,
    count: int,
    prompt: str | None = None,
    created_at: dt.datetime | None = None,
    app_url: str = "https://app.example.com/chat",
    app_title: str = "My chat app",
) -> list[str]:
    """`count` generations of `api_key` in one ingestion, numbered: the i-th has the
    prompt "`prompt` #i" (no text without `prompt`), i more tokens and a unique gateway
    id; returns those ids."""
    created_at = created_at or timezone.now() - dt.timedelta(minutes=1)
    records = [
        GenerationRecordFactory(
            id=unique_marker("gen"),
            key_id=api_key.pk,
            app_url=app_url,
            app_title=app_title,
            prompt=f"{prompt} #{i}" if prompt else None,
            completion=f"completion of {prompt} #{i}" if prompt else None,
            prompt_tokens=10 + i,
            completion_tokens=20 + i,
            cost_usd="0.00012000",
            created_at=created_at.isoformat(),
        )
        for i in range(count)
    ]
    result = do_ingest_generations(records=records)
    assert result.stored == count, result.as_dict()
    return [record["id"] for record in records]
