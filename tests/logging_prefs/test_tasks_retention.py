"""Retention expiry: text goes after PORTAL_PROMPT_RETENTION_DAYS, billing metadata stays."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from logging_prefs import tasks
from logging_prefs.models import Generation
from logging_prefs.retention import do_expire_stored_text
from logging_prefs.schedules import BEAT_SCHEDULE
from portal.celery import app
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory, ingest, set_text_state

pytestmark = pytest.mark.django_db

STORED = Generation.TextState.STORED
EXPIRED = Generation.TextState.EXPIRED


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def api_key():
    return ApiKeyFactory(user=UserFactory())


@pytest.fixture
def requeues(monkeypatch):
    """Stands in for the task where it re-queues itself (the module global the on_commit
    callback calls), so each re-queue is recorded instead of sent to the broker."""
    spy = mock.Mock()
    monkeypatch.setattr(tasks, "expire_stored_text", spy)
    return spy


# The real task, kept before `requeues` replaces the module global.
expire_stored_text = tasks.expire_stored_text


def test_expiry_removes_text_and_keeps_metadata(api_key, requeues):
    old = GenerationFactory(
        api_key=api_key,
        created_at=days_ago(31),
        model="anthropic/claude-3.5-sonnet",
        provider="Anthropic",
        prompt="Summarise my medical notes",
        completion="Here is a summary",
        prompt_tokens=1200,
        completion_tokens=300,
        cost_usd="0.01234500",
    )
    assert old.text_state == STORED and old.prompt

    assert expire_stored_text.run() == 1

    old.refresh_from_db()
    assert old.text_state == EXPIRED
    assert old.prompt is None and old.completion is None
    # Billing metadata is untouched.
    assert old.model == "anthropic/claude-3.5-sonnet"
    assert old.provider == "Anthropic"
    assert (old.prompt_tokens, old.completion_tokens) == (1200, 300)
    assert old.cost_usd == Decimal("0.01234500")
    assert old.user_id == api_key.user_id and old.api_key_id == api_key.pk
    assert old.app_url == "https://chat.example.com/"
    assert Generation.objects.count() == 1


def test_expiry_keeps_text_younger_than_retention(api_key, requeues, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    expires = GenerationFactory(
        api_key=api_key, created_at=days_ago(30.01), prompt="past retention"
    )
    stays = GenerationFactory(
        api_key=api_key, created_at=days_ago(29.99), prompt="just inside retention"
    )
    fresh = GenerationFactory(api_key=api_key, prompt="from a minute ago")

    expire_stored_text.run()

    for generation in (expires, stays, fresh):
        generation.refresh_from_db()
    assert expires.text_state == EXPIRED and expires.prompt is None
    assert (stays.text_state, stays.prompt) == (STORED, "just inside retention")
    assert (fresh.text_state, fresh.prompt) == (STORED, "from a minute ago")


def test_expiry_follows_the_configured_retention_days(api_key, requeues, settings):
    settings.PORTAL_PROMPT_RETENTION_DAYS = 7
    eight_days = GenerationFactory(api_key=api_key, created_at=days_ago(8))
    six_days = GenerationFactory(api_key=api_key, created_at=days_ago(6))

    expire_stored_text.run()

    eight_days.refresh_from_db()
    six_days.refresh_from_db()
    assert eight_days.text_state == EXPIRED
    assert six_days.text_state == STORED


def test_expiry_processes_in_chunks_and_requeues_until_done(
    api_key, requeues, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "EXPIRY_CHUNK_SIZE", 2)
    old = ingest(api_key, 5, newest=days_ago(40), step=dt.timedelta(hours=1))
    young = GenerationFactory(api_key=api_key, created_at=days_ago(29))

    expired_per_run = []
    args: tuple = ()
    for _ in range(10):  # a bound, so a task that never stops fails instead of hanging
        requeues.reset_mock()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            expired_per_run.append(expire_stored_text.run(*args))
        if not callbacks:
            break
        # The re-queue happens after commit, with the cutoff of the first run.
        assert len(callbacks) == 1
        requeues.delay.assert_called_once()
        args = requeues.delay.call_args.args
        if len(expired_per_run) == 1:
            first_cutoff = dt.datetime.fromisoformat(args[0])
            assert abs(first_cutoff - days_ago(30)) < dt.timedelta(minutes=1)
            # Later runs never recompute the cutoff: they use the one passed along.
            monkeypatch.setattr(tasks, "retention_cutoff", mock.Mock(side_effect=AssertionError))
        assert dt.datetime.fromisoformat(args[0]) == first_cutoff

    assert expired_per_run == [2, 2, 1]
    assert all(
        g.text_state == EXPIRED for g in Generation.objects.filter(id__in=[g.id for g in old])
    )
    young.refresh_from_db()
    assert young.text_state == STORED


def test_expiry_is_idempotent_and_leaves_other_states_alone(
    api_key, requeues, django_capture_on_commit_callbacks
):
    [stored, deleted, not_logged] = ingest(api_key, 3, newest=days_ago(45))
    set_text_state(deleted, Generation.TextState.DELETED)
    set_text_state(not_logged, Generation.TextState.NOT_LOGGED)

    assert expire_stored_text.run() == 1
    with django_capture_on_commit_callbacks() as callbacks:
        assert expire_stored_text.run() == 0
    assert callbacks == []

    states = dict(Generation.objects.values_list("id", "text_state"))
    assert states == {
        stored.id: EXPIRED,
        deleted.id: Generation.TextState.DELETED,
        not_logged.id: Generation.TextState.NOT_LOGGED,
    }


def test_expire_action_updates_one_chunk_oldest_first(api_key):
    generations = ingest(api_key, 3, newest=days_ago(40), step=dt.timedelta(days=1))
    newest, middle, oldest = generations

    expired = do_expire_stored_text(older_than=days_ago(30), batch_size=2)

    assert expired == 2
    states = dict(Generation.objects.values_list("id", "text_state"))
    assert states == {oldest.id: EXPIRED, middle.id: EXPIRED, newest.id: STORED}


def test_beat_schedule_runs_every_task_which_ack_late():
    registered = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert registered == {
        "logging_prefs.tasks.expire_stored_text",
        "logging_prefs.tasks.expire_text_past_chosen_retention",
        "logging_prefs.tasks.fold_old_activity",
        "logging_prefs.tasks.categorise_stored_prompts",
    }
    for name in registered:
        task = app.tasks[name]
        assert task.acks_late is True
