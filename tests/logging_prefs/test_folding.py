"""Request metadata older than PORTAL_ACTIVITY_RETENTION_DAYS is folded into the
person's daily totals by model and provider (no key, no app, no time of day) and the
rows deleted, in chunks, by the nightly task (logging_prefs/folding.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from decimal import Decimal
from unittest import mock

import pytest
from django.db import DataError, connection
from django.utils import timezone

from logging_prefs import actions, folding, tasks
from logging_prefs.folding import activity_cutoff_day, do_fold_old_activity
from logging_prefs.models import BillingDailyTotal, Generation, UsageDailyTotal
from logging_prefs.selectors import FOLDED_KEY_LABEL, ActivityFilters, usage_summary_for_user
from privacy.deletion.account import do_delete_account
from privacy.deletion.purge import do_claim_deletion_request, do_purge_chunk
from privacy.models import DeletionRequest
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import ingest
from tests.helpers.privacy import BILLING_FIELDS, expected_totals, ledger_totals

pytestmark = pytest.mark.django_db

SUM_FIELDS = ("generations", "prompt_tokens", "completion_tokens", "cost_usd")

# The real task, kept before `requeues` replaces the module global.
fold_old_activity = tasks.fold_old_activity


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def cutoff_moment() -> dt.datetime:
    return dt.datetime.combine(activity_cutoff_day(), dt.time.min, tzinfo=dt.UTC)


@pytest.fixture
def requeues(monkeypatch):
    spy = mock.Mock()
    monkeypatch.setattr(tasks, "fold_old_activity", spy)
    return spy


@pytest.fixture
def people(settings):
    """Two people, each with two keys and two apps, a year and a half of requests (some
    older than the activity retention, some younger), on two models."""
    settings.PORTAL_ACTIVITY_RETENTION_DAYS = 400
    found = []
    for n in range(2):
        user = UserFactory()
        for k, (model, provider) in enumerate(
            [("openai/gpt-4o", "OpenAI"), ("anthropic/claude-sonnet-4", "Anthropic")]
        ):
            api_key = ApiKeyFactory(user=user)
            for newest, count in ((days_ago(430 + n), 7), (days_ago(401.5), 3), (days_ago(20), 4)):
                ingest(
                    api_key,
                    count,
                    newest=newest,
                    step=dt.timedelta(hours=5),
                    model=model,
                    provider=provider,
                    app_url=f"https://app{k}.example.com/",
                    app_title=f"App {k}",
                    prompt_tokens=10 + k,
                    completion_tokens=3 + n,
                    cost_usd=f"0.0{k + 1}{n + 1}00001",
                )
        found.append(user)
    return found


def fold_everything(batch_size: int = 1000) -> list[folding.FoldChunk]:
    chunks = []
    for _ in range(1000):
        chunk = do_fold_old_activity(cutoff_day=activity_cutoff_day(), batch_size=batch_size)
        chunks.append(chunk)
        if not chunk.has_more:
            return chunks
    raise AssertionError("the fold did not end")


def usage_rows(**filters) -> dict:
    """UsageDailyTotal as {(user, day, model, provider): sums} over the rows `filters` pick."""
    totals: dict = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for row in UsageDailyTotal.objects.filter(**filters):
        total = totals[(row.user_id, row.day, row.model, row.provider)]
        for n, name in enumerate(SUM_FIELDS):
            total[n] += getattr(row, name)
    return {key: tuple(value) for key, value in totals.items()}


def totals_of(rows) -> dict:
    """Generation rows (user_id, *BILLING_FIELDS) per (user, UTC day, model, provider)."""
    totals: dict = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for user_id, _, model, provider, prompt, completion, cost, created_at in rows:
        total = totals[(user_id, created_at.astimezone(dt.UTC).date(), model, provider)]
        for n, value in enumerate((1, prompt, completion, cost)):
            total[n] += value
    return {key: tuple(value) for key, value in totals.items()}


def summary(user) -> tuple:
    s = usage_summary_for_user(user=user, filters=ActivityFilters())
    return (
        s.total,
        s.by_day,
        [(r.label, r.figures) for r in s.by_model],
        [(r.label, r.figures) for r in s.by_provider],
    )


def test_folding_keeps_totals_equal_to_the_rows_it_removed(people):
    old = Generation.objects.filter(created_at__lt=cutoff_moment())
    removed = list(old.values_list("user_id", *BILLING_FIELDS))
    assert len(removed) == 2 * 2 * 10
    young_before = usage_rows(day__gte=activity_cutoff_day())
    ledger_before = ledger_totals()
    summaries_before = [summary(user) for user in people]

    fold_everything()

    assert not old.exists()
    # The person's folded totals: exactly the sums of the rows removed, per account,
    # day, model and provider.
    assert usage_rows(day__lt=activity_cutoff_day()) == totals_of(removed)
    # The billing ledger gained exactly those rows' totals, nothing more.
    assert ledger_totals() == expected_totals([row[1:] for row in removed], plus=ledger_before)
    # Younger days are untouched, and the activity page's totals are the same.
    assert usage_rows(day__gte=activity_cutoff_day()) == young_before
    assert [summary(user) for user in people] == summaries_before
    # By key, the folded days are named as such, not as a deleted key.
    by_key = usage_summary_for_user(user=people[0], filters=ActivityFilters()).by_key
    assert FOLDED_KEY_LABEL in [row.label for row in by_key]
    assert "a deleted key" not in [row.label for row in by_key]
    assert Generation.objects.count() == 2 * 2 * 4


def test_no_key_app_or_time_of_day_survives_for_folded_days(people):
    fold_everything()

    cutoff = activity_cutoff_day()
    assert not Generation.objects.filter(created_at__lt=cutoff_moment()).exists()
    folded = UsageDailyTotal.objects.filter(day__lt=cutoff)
    assert folded.count() > 0
    assert set(folded.values_list("api_key_id", "app_url", "app_title")) == {(None, "", "")}
    # One row per account, day, model and provider.
    keys = list(folded.values_list("user_id", "day", "model", "provider"))
    assert len(keys) == len(set(keys))
    # The ledger has no field for a person, key, app or time (test_registry proves it).
    assert {f.name for f in BillingDailyTotal._meta.concrete_fields} == {
        "id", "day", "model", "provider", *SUM_FIELDS,
    }  # fmt: skip
    # Younger requests keep everything.
    young = UsageDailyTotal.objects.filter(day__gte=cutoff)
    assert not young.filter(api_key__isnull=True).exists()
    assert not Generation.objects.filter(app_url="").exists()


def test_folding_runs_in_bounded_chunks_and_again_changes_nothing(people):
    old = list(
        Generation.objects.filter(created_at__lt=cutoff_moment()).values_list(
            "user_id", *BILLING_FIELDS
        )
    )
    chunks = fold_everything(batch_size=3)

    assert all(chunk.generations <= 3 and chunk.totals <= 3 for chunk in chunks)
    assert sum(chunk.generations for chunk in chunks) == len(old)
    # The account with the oldest day still to fold comes first, whoever it is.
    assert {chunk.user_id for chunk in chunks} - {None} == {user.pk for user in people}
    assert usage_rows(day__lt=activity_cutoff_day()) == totals_of(old)

    ledger = ledger_totals()
    again = do_fold_old_activity(cutoff_day=activity_cutoff_day(), batch_size=3)
    assert (again.user_id, again.rows, again.has_more) == (None, 0, False)
    assert ledger_totals() == ledger


def test_an_interrupted_chunk_changes_nothing_and_the_next_run_finishes(people, monkeypatch):
    old = list(
        Generation.objects.filter(created_at__lt=cutoff_moment()).values_list(
            "user_id", *BILLING_FIELDS
        )
    )
    ledger_before, usage_before = ledger_totals(), usage_rows()
    # The chunk dies after deleting its generations, before collapsing the totals.
    monkeypatch.setattr(folding, "_COLLAPSE_SQL", "SELECT 1 / 0")
    with pytest.raises(DataError):
        do_fold_old_activity(cutoff_day=activity_cutoff_day(), batch_size=1000)
    assert Generation.objects.filter(created_at__lt=cutoff_moment()).count() == len(old)
    assert ledger_totals() == ledger_before and usage_rows() == usage_before

    monkeypatch.undo()
    fold_everything()
    assert usage_rows(day__lt=activity_cutoff_day()) == totals_of(old)
    assert ledger_totals() == expected_totals([row[1:] for row in old], plus=ledger_before)


def test_the_nightly_task_requeues_with_its_cutoff_day_until_done(
    people, requeues, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "FOLD_CHUNK_SIZE", 10)
    args: tuple = ()
    runs = 0
    for runs in range(1, 100):  # noqa: B007 (a bound, so a chain that never stops fails)
        requeues.reset_mock()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            fold_old_activity.run(*args)
        if not callbacks:
            break
        args = requeues.delay.call_args.args
        assert args == (activity_cutoff_day().isoformat(),)
    assert runs > 2
    assert not Generation.objects.filter(created_at__lt=cutoff_moment()).exists()


def test_a_request_posted_late_for_a_folded_day_is_folded_by_the_next_run(people):
    fold_everything()
    user = people[0]
    folded_before = usage_rows(user_id=user.pk, day__lt=activity_cutoff_day())
    [late] = ingest(
        ApiKeyFactory(user=user),
        1,
        newest=days_ago(430),
        model="openai/gpt-4o",
        provider="OpenAI",
        prompt_tokens=100,
        completion_tokens=10,
        cost_usd="1.5",
    )
    fold_everything()
    assert not Generation.objects.filter(pk=late.pk).exists()
    day = late.created_at.astimezone(dt.UTC).date()
    after = usage_rows(user_id=user.pk, day__lt=activity_cutoff_day())
    before = folded_before.get((user.pk, day, "openai/gpt-4o", "OpenAI"), (0, 0, 0, Decimal(0)))
    assert after[(user.pk, day, "openai/gpt-4o", "OpenAI")] == (
        before[0] + 1,
        before[1] + 100,
        before[2] + 10,
        before[3] + Decimal("1.5"),
    )
    assert set(
        UsageDailyTotal.objects.filter(user=user, day__lt=activity_cutoff_day()).values_list(
            "api_key_id", "app_url"
        )
    ) == {(None, "")}


def test_an_account_deleted_after_a_fold_leaves_its_whole_history_to_the_ledger(people):
    user, other = people
    history = list(Generation.objects.filter(user=user).values_list(*BILLING_FIELDS))
    others_folded = list(
        Generation.objects.filter(user=other, created_at__lt=cutoff_moment()).values_list(
            *BILLING_FIELDS
        )
    )
    ledger_before = ledger_totals()
    fold_everything()
    assert any(row[-1] < cutoff_moment() for row in history)  # some were folded

    request = do_delete_account(user=user, acting_user=user)
    assert do_claim_deletion_request(request_id=request.pk) is not None
    while do_purge_chunk(request_id=request.pk):
        pass
    assert DeletionRequest.objects.get(pk=request.pk).status == DeletionRequest.Status.COMPLETED

    assert not UsageDailyTotal.objects.filter(user_id=user.pk).exists()
    # Every generation the account ever had is in the ledger once: the folded days from
    # the fold, the rest from the purge (beside the other person's folded days).
    assert ledger_totals() == expected_totals(history + others_folded, plus=ledger_before)


@pytest.mark.django_db(transaction=True)
def test_a_fold_waits_for_an_ingestion_batch_in_flight_and_folds_its_rows_too(
    settings, monkeypatch
):
    """A batch posting an old request for a day being folded holds its account's
    preference row until it commits; the fold's chunk takes that row first, so it waits,
    and then folds the batch's row with the rest: no row of a folded day is left behind
    and no total is counted twice."""
    settings.PORTAL_ACTIVITY_RETENTION_DAYS = 400
    user = UserFactory()
    api_key = ApiKeyFactory(user=user)
    ingest(api_key, 3, newest=days_ago(420), model="openai/gpt-4o", provider="OpenAI")

    batch_inside, release = threading.Event(), threading.Event()
    real_add = actions._add_to_usage_totals

    def add_then_wait(rows):
        real_add(rows)
        batch_inside.set()
        assert release.wait(timeout=30)

    monkeypatch.setattr(actions, "_add_to_usage_totals", add_then_wait)
    errors: list[BaseException] = []
    folded: list[folding.FoldChunk] = []

    def post_late_batch() -> None:
        try:
            ingest(api_key, 1, newest=days_ago(421), model="openai/gpt-4o", provider="OpenAI")
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    def fold() -> None:
        try:
            folded.extend(fold_everything())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    batch = threading.Thread(target=post_late_batch)
    folder = threading.Thread(target=fold)
    batch.start()
    assert batch_inside.wait(timeout=30)
    folder.start()
    time.sleep(0.5)
    assert folder.is_alive(), "the fold did not wait for the batch in flight"
    release.set()
    batch.join(timeout=30)
    folder.join(timeout=30)
    assert not batch.is_alive() and not folder.is_alive(), "a thread hung"
    assert not errors, errors

    assert not Generation.objects.filter(user=user).exists()
    rows = UsageDailyTotal.objects.filter(user=user)
    assert set(rows.values_list("api_key_id", "app_url", "app_title")) == {(None, "", "")}
    assert sum(rows.values_list("generations", flat=True)) == 4
    assert sum(BillingDailyTotal.objects.values_list("generations", flat=True)) == 4
