"""The logging switch against concurrent ingestion, on PostgreSQL with real threads.

The promise: once a toggle to "don't log" has committed, no batch stores text, however
many batches were in flight. Batches hold the key, account and preference rows FOR
SHARE until they commit; the toggle takes FOR UPDATE and waits for them, and every
batch after it reads the new value.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.db.models import Count, Max, Sum
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs import actions
from logging_prefs.actions import (
    do_ingest_generations,
    do_set_api_key_logging,
    do_set_logging_preferences,
)
from logging_prefs.models import Generation, UsageDailyTotal
from tests.factories.accounts import UserFactory
from tests.helpers.gateway import create_key, record
from tests.helpers.services import run_together

INGEST_THREADS = 4
BATCH = 10
WARM_UP_SECONDS = 0.4
BATCHES_AFTER_TOGGLE = 6


def _toggle_off(how: str, key: ApiKey) -> None:
    if how == "account":
        do_set_logging_preferences(
            user=key.user, acting_user=key.user, changes={"log_prompts": False}
        )
    else:
        do_set_api_key_logging(api_key=key, acting_user=key.user, logging="never")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["account", "key"])
def test_toggle_takes_effect_for_the_next_ingestion_after_commit(how, monkeypatch):
    key = create_key(UserFactory()).api_key
    other_key = create_key(UserFactory()).api_key  # never toggled: keeps logging

    # Widen the window between reading the setting and inserting, so a batch that read
    # "log" is very likely still in flight when the toggle arrives.
    real_insert = actions._insert_new

    def slow_insert(generations):
        time.sleep(0.005)
        return real_insert(generations)

    monkeypatch.setattr(actions, "_insert_new", slow_insert)

    toggled = threading.Event()
    marker: dict[str, int] = {}
    errors: list[BaseException] = []
    # (started after the toggle committed?, with_text) for each batch of `key`.
    outcomes: list[tuple[bool, int]] = []

    def ingest() -> None:
        try:
            after = 0
            while after < BATCHES_AFTER_TOGGLE:
                started_after_toggle = toggled.is_set()
                result = do_ingest_generations(
                    records=[record(key.pk) for _ in range(BATCH)] + [record(other_key.pk)]
                )
                assert not result.rejected, result.rejected
                assert result.stored == BATCH + 1
                outcomes.append((started_after_toggle, result.with_text))
                if started_after_toggle:
                    after += 1
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
            toggled.set()
        finally:
            connection.close()

    def toggle() -> None:
        try:
            time.sleep(WARM_UP_SECONDS)
            _toggle_off(how, key)
            # The action's transaction was this thread's outermost: it has committed.
            marker["id"] = Generation.objects.aggregate(last=Max("id"))["last"]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            toggled.set()
            connection.close()

    threads = [threading.Thread(target=ingest) for _ in range(INGEST_THREADS)]
    threads.append(threading.Thread(target=toggle))
    run_together(threads, timeout=120, what="a thread")
    assert not errors, errors

    # The race really happened: text was stored before the toggle, and batches kept
    # coming after it.
    before = Generation.objects.filter(api_key=key, id__lte=marker["id"])
    after = Generation.objects.filter(api_key=key, id__gt=marker["id"])
    assert before.filter(text_state=Generation.TextState.STORED).count() >= BATCH
    assert after.count() >= INGEST_THREADS * BATCHES_AFTER_TOGGLE * BATCH

    # The promise: nothing with text was written for the key after the toggle committed.
    assert not after.filter(text_state=Generation.TextState.STORED).exists()
    assert not after.filter(prompt__isnull=False).exists()
    # Every batch that started after the commit reported no text for the key (each batch
    # also carries one record of the untouched key, which keeps its text).
    assert [with_text for started_after, with_text in outcomes if started_after] == [1] * (
        INGEST_THREADS * BATCHES_AFTER_TOGGLE
    )
    # The other account was not affected.
    assert not Generation.objects.filter(
        api_key=other_key, text_state=Generation.TextState.NOT_LOGGED
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_two_batches_reposting_the_same_ids_at_once_store_each_generation_once(monkeypatch):
    """Batches are COPYed after looking up which ids are stored. Two batches with the
    same ids (in opposite orders) both find none, then both COPY: the second waits for
    the first, fails on the unique index, and falls back to INSERT ... ON CONFLICT. No
    error, no deadlock, each generation stored once, the rest counted as duplicates.

    With 500 rows the two COPYs interleave; without the id order they deadlocked in
    two runs out of three."""
    key = create_key(UserFactory()).api_key
    records = [record(key.pk) for _ in range(500)]

    both_looked = threading.Barrier(2, timeout=30)
    real_stored_ids = actions._stored_ids

    def stored_ids_then_wait(gateway_ids):
        found = real_stored_ids(gateway_ids)
        both_looked.wait()
        return found

    fallbacks: list[int] = []
    real_fallback = actions._insert_on_conflict

    def counted_fallback(rows):
        fallbacks.append(len(rows))
        return real_fallback(rows)

    monkeypatch.setattr(actions, "_stored_ids", stored_ids_then_wait)
    monkeypatch.setattr(actions, "_insert_on_conflict", counted_fallback)

    results: list = []
    errors: list[BaseException] = []

    def ingest(batch: list[dict]) -> None:
        try:
            results.append(do_ingest_generations(records=batch))
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=ingest, args=(records,)),
        threading.Thread(target=ingest, args=(records[::-1],)),
    ]
    run_together(threads, timeout=60, what="a thread")
    assert not errors, errors

    # The race really happened: one batch's COPY collided and it took the fallback.
    assert fallbacks == [500]
    assert sorted((r.stored, r.duplicates) for r in results) == [(0, 500), (500, 0)]
    assert Generation.objects.filter(api_key=key).count() == 500
    assert set(Generation.objects.values_list("gateway_id", flat=True)) == {
        r["id"] for r in records
    }
    # The usage summary counted each generation once, whichever batch stored it.
    assert usage_sums(key) == generation_sums(key)
    assert usage_sums(key)["n"] == 500


def usage_sums(key: ApiKey) -> dict:
    return UsageDailyTotal.objects.filter(api_key_id=key.pk).aggregate(
        n=Sum("generations"), tokens=Sum("prompt_tokens"), cost=Sum("cost_usd")
    )


def generation_sums(key: ApiKey) -> dict:
    return Generation.objects.filter(api_key_id=key.pk).aggregate(
        n=Count("pk"), tokens=Sum("prompt_tokens"), cost=Sum("cost_usd")
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_person_add_into_the_same_totals_without_deadlock():
    """Four threads post batches of one key at once, each batch touching the same six
    summary rows (three models, two days) in its own record order. Each batch locks
    the rows it adds into in one order (sorted groups), so none deadlocks, and the
    totals are the sums of the rows stored."""
    key = create_key(UserFactory()).api_key
    now = timezone.now()
    models = ["a/one", "b/two", "c/three"]
    days = [now - dt.timedelta(minutes=5), now - dt.timedelta(days=1, minutes=5)]
    batches = []
    for thread in range(4):
        mine = []
        for _ in range(5):
            batch = [
                record(
                    key.pk,
                    model=models[n % 3],
                    created_at=days[n % 2].isoformat(),
                    prompt_tokens=n,
                    cost_usd=f"0.0000{n % 10}000",
                )
                for n in range(60)
            ]
            # Each thread walks the groups in another order.
            mine.append(batch[thread:] + batch[:thread] if thread % 2 else batch[::-1])
        batches.append(mine)

    errors: list[BaseException] = []

    def ingest(mine: list[list[dict]]) -> None:
        try:
            for batch in mine:
                assert do_ingest_generations(records=batch).stored == 60
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    run_together(
        [threading.Thread(target=ingest, args=(mine,)) for mine in batches],
        timeout=120,
        what="a thread",
    )
    assert not errors, errors
    assert usage_sums(key) == generation_sums(key)
    assert usage_sums(key)["n"] == 4 * 5 * 60
    assert UsageDailyTotal.objects.filter(api_key_id=key.pk).count() == 6
