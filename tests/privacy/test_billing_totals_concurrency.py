"""Two account purges adding into the same billing totals at once, on PostgreSQL with
real threads.

The promise: purges that run at the same time and add generations of the same UTC
days, models and providers into the same BillingDailyTotal rows neither deadlock nor
lose or double an addition. Each chunk adds its totals with one INSERT ... ON CONFLICT
DO UPDATE whose rows are taken in the order of (day, model, provider), so two chunks
never wait for each other's rows crosswise; each addition is made against the row as
the other purge committed it (a row the other is still inserting is waited for, then
added to), so the ledger ends up with every generation exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from accounts.models import ApiKey, User
from logging_prefs.actions import do_ingest_generations
from logging_prefs.models import BillingDailyTotal, Generation
from privacy.deletion.account import do_delete_account
from privacy.deletion.purge import Claim, do_claim_deletion_request, do_purge_chunk
from privacy.models import DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import BILLING_FIELDS, expected_totals, ledger_totals
from tests.helpers.services import run_together

Status = DeletionRequest.Status

GENERATIONS_EACH = 45
MODELS = (
    ("openai/gpt-4o", "OpenAI"),
    ("anthropic/claude-3.5-sonnet", "Anthropic"),
    ("mistral/small", "Mistral"),
)
# The chain of one purge cannot be this long unless something hangs.
MAX_CHUNKS = 1000
# How long a chunk's totals statement waits for the other purge's (see `rendezvous`).
RENDEZVOUS_SECONDS = 2


def same_days_and_models(key: ApiKey, *, step: int, tokens: int, cents: int) -> None:
    """Generations 70 minutes apart over three UTC days, each row of the next model.

    Both accounts get rows at the same times, models and providers, so every total
    row is added into by both purges; `step` walks the models forwards (1) or backwards
    (-1), so a chunk of one account meets the shared rows in a different order than the
    other's does, and only the purge's own ordering keeps their locks in one order.
    Token counts and costs differ per row and per account, so a lost or doubled
    addition changes a sum, not only a count.
    """
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - dt.timedelta(days=4)
    records = []
    for i in range(GENERATIONS_EACH):
        model, provider = MODELS[(step * i) % len(MODELS)]
        records.append(
            {
                "id": unique_marker("gen"),
                "key_id": key.pk,
                "model": model,
                "provider": provider,
                "app_url": "https://app.example.com/",
                "app_title": "An app",
                "prompt": f"prompt #{i}",
                "completion": f"answer #{i}",
                "prompt_tokens": tokens + 7 * i,
                "completion_tokens": tokens // 2 + 3 * i,
                "cost_usd": str(Decimal(cents) / 100 + Decimal("0.00000017") * (i + 1)),
                "created_at": (start + dt.timedelta(minutes=70 * i)).isoformat(),
            }
        )
    assert do_ingest_generations(records=records).stored == GENERATIONS_EACH


@pytest.mark.django_db(transaction=True)
def test_concurrent_purges_add_into_the_same_totals_without_deadlock_or_lost_updates(
    task_queue, small_chunks
):
    first, second = TraceableUserFactory(), TraceableUserFactory()
    same_days_and_models(ApiKeyFactory(user=first), step=1, tokens=100, cents=25)
    same_days_and_models(ApiKeyFactory(user=second), step=-1, tokens=40, cents=3)
    users = (first, second)
    rows = {
        user.pk: list(Generation.objects.filter(user=user).values_list(*BILLING_FIELDS))
        for user in users
    }
    both = rows[first.pk] + rows[second.pk]
    # The two accounts really share every total row, over more than one day, and each
    # purge needs many chunks (so their chunks interleave).
    shared = expected_totals(rows[first.pk])
    assert shared.keys() == expected_totals(rows[second.pk]).keys()
    assert len({day for day, _, _ in shared}) == 3 and len(shared) == 3 * len(MODELS)
    assert GENERATIONS_EACH // small_chunks >= 10
    assert ledger_totals() == {}

    # The deletions are requested and claimed as the views and the task do; the broker
    # is task_queue (the enqueued purge messages are only recorded).
    requests = {user.pk: do_delete_account(user=user, acting_user=user) for user in users}
    assert sorted(message["request_id"] for message in task_queue.purges) == sorted(
        request.pk for request in requests.values()
    )
    claims = {user.pk: do_claim_deletion_request(request_id=requests[user.pk].pk) for user in users}
    assert all(claim is not None for claim in claims.values())

    start = threading.Barrier(len(users), timeout=30)
    # Each chunk's statement that adds into the totals waits here for the other purge's,
    # so the two run at the same moment. Left to themselves they would not: the second
    # would come a few milliseconds after the first had taken all its rows, and wait
    # behind it whatever the order. Together, were the rows taken in different orders,
    # the two would deadlock within a few chunks (reversing one purge's ORDER BY makes
    # this test fail with "deadlock detected"). A purge left alone (the other one
    # finished or failed) goes on without waiting.
    together = threading.Barrier(len(users))
    alone = threading.Event()
    met: list[int] = []  # one entry each time the two statements met
    adds_into_totals = f'INSERT INTO "{BillingDailyTotal._meta.db_table}"'

    def rendezvous(execute, sql, params, many, context):
        if adds_into_totals in sql and not alone.is_set():
            try:
                if together.wait(timeout=RENDEZVOUS_SECONDS) == 0:
                    met.append(1)
            except threading.BrokenBarrierError:
                pass
        return execute(sql, params, many, context)

    errors: list[BaseException] = []
    chunks: Counter[int] = Counter()

    def purge(user_id: int) -> None:
        """The task's chain, in one thread: each chunk under the claim, the chunk number
        advanced after each (privacy/tasks.py), until no rows remain."""
        try:
            claim = claims[user_id]
            start.wait()
            for _ in range(MAX_CHUNKS):
                with connection.execute_wrapper(rendezvous):
                    has_more = do_purge_chunk(request_id=requests[user_id].pk, claim=claim)
                chunks[user_id] += 1
                if not has_more:
                    return
                claim = Claim(token=claim.token, chunk=claim.chunk + 1)
            raise AssertionError(f"the purge of {user_id} never finished")
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
            start.abort()
        finally:
            alone.set()
            together.abort()
            connection.close()

    threads = [threading.Thread(target=purge, args=(user.pk,)) for user in users]
    run_together(threads, timeout=120, what="a purge")
    # No error in either thread: a deadlock is PostgreSQL's "deadlock detected", raised
    # in one of them (after deadlock_timeout, a second).
    assert not errors, errors

    # The race really happened: each purge took many chunks, and their statements adding
    # into the shared totals ran at the same moment, chunk after chunk.
    assert all(chunks[user.pk] >= GENERATIONS_EACH // small_chunks for user in users), chunks
    assert len(met) >= GENERATIONS_EACH // small_chunks, len(met)

    for user in users:
        request = DeletionRequest.objects.get(pk=requests[user.pk].pk)
        assert request.status == Status.COMPLETED
        assert request.receipt["kept"][0]["count"] == GENERATIONS_EACH
        assert not Generation.objects.filter(user_id=user.pk).exists()
        assert not User.objects.filter(pk=user.pk).exists()

    # The promise: every generation of both accounts counted once, every sum exact.
    totals = ledger_totals()
    assert totals == expected_totals(both)
    assert sum(total[0] for total in totals.values()) == 2 * GENERATIONS_EACH
    assert BillingDailyTotal.objects.count() == len(shared)


@pytest.mark.django_db(transaction=True)
def test_a_row_updated_while_its_chunk_waits_is_archived_once_by_the_next_chunk():
    """A chunk deletes the rows it chose by their addresses (ctid). When another
    transaction updates one of them first (the categoriser, the nightly expiry), the
    chunk waits for it, finds the row moved to a new address, and leaves it: the chunk
    counts only what it moved and says rows remain, and the next chunk archives the
    row. Nothing is lost, nothing is counted twice."""
    user = TraceableUserFactory()
    key = ApiKeyFactory(user=user)
    same_days_and_models(key, step=1, tokens=100, cents=3)
    before = expected_totals(Generation.objects.filter(user=user).values_list(*BILLING_FIELDS))
    oldest = Generation.objects.filter(user=user).order_by("created_at", "id").first()
    request = do_delete_account(user=user, acting_user=user)
    claim = do_claim_deletion_request(request_id=request.pk)
    assert claim is not None

    # A second session updates the oldest row and keeps its transaction open.
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    blocker = psycopg.connect(**params)
    blocker.execute(
        "UPDATE logging_prefs_generation SET categorised = true WHERE id = %s", [oldest.pk]
    )
    outcome: list = []

    def first_chunk() -> None:
        try:
            outcome.append(do_purge_chunk(request_id=request.pk, claim=claim))
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first_chunk)
    thread.start()
    # The chunk reaches the updated row and waits for the blocker's transaction.
    with psycopg.connect(**params, autocommit=True) as watcher:
        deadline = time.monotonic() + 10
        while not watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%DELETE FROM%logging_prefs_generation%'"
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                blocker.rollback()
                pytest.fail("the chunk never waited for the updated row")
            time.sleep(0.01)
    blocker.commit()
    blocker.close()
    thread.join(timeout=30)
    assert outcome == [True], outcome  # rows remain: the skipped one

    progress = DeletionRequest.objects.get(pk=request.pk).progress
    assert progress["archived"]["logging_prefs.generation"] == GENERATIONS_EACH - 1
    assert list(Generation.objects.filter(user_id=user.pk).values_list("id", flat=True)) == [
        oldest.pk
    ]

    claim = Claim(token=claim.token, chunk=claim.chunk + 1)
    for _ in range(MAX_CHUNKS):
        if not do_purge_chunk(request_id=request.pk, claim=claim):
            break
        claim = Claim(token=claim.token, chunk=claim.chunk + 1)
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.progress["archived"]["logging_prefs.generation"] == GENERATIONS_EACH
    assert not Generation.objects.filter(user_id=user.pk).exists()
    assert ledger_totals() == before
