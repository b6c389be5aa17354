"""The purge on a real Celery worker, killed mid-purge (SIGKILL of the whole worker):
the next worker finishes it, nothing is left linked to the person, every generation's
billing fields are in the ledger exactly once, one notice is sent."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.models import Count, Sum

from accounts.models import ApiKey, User
from logging_prefs.models import BillingDailyTotal, Generation
from privacy import tasks
from privacy.deletion.account import do_delete_account
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import BILLING_SUMS
from tests.helpers.purge_worker import (
    CHUNK_PAUSE_SECONDS,
    CHUNK_SIZE,
    VISIBILITY_TIMEOUT_SECONDS,
    PurgeRun,
    insert_generations,
)
from tests.worker_process import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GENERATIONS = 100_000
KILL_AFTER_ROWS = 10 * CHUNK_SIZE
PURGE_TIMEOUT = 120


@pytest.fixture
def purge_run(redis_url, tmp_path, monkeypatch) -> Iterator[PurgeRun]:
    run = PurgeRun(redis_url, tmp_path)
    # What the test process enqueues goes to the run's private queue and key space.
    monkeypatch.setattr(tasks, "enqueue_purge", run.enqueue_purge)
    try:
        yield run
    finally:
        run.close()


def test_purge_survives_a_killed_worker_and_sends_one_notice(purge_run):
    run = purge_run
    user = TraceableUserFactory()
    user_id = user.pk
    api_key = ApiKeyFactory(user=user)
    prompt = unique_marker("prompt")
    insert_generations(user, api_key, prompt, GENERATIONS)
    assert not BillingDailyTotal.objects.exists()  # the ledger starts empty
    billing_sums = {"n": Count("id"), **BILLING_SUMS}
    billing_before = Generation.objects.filter(user_id=user_id).aggregate(**billing_sums)
    assert billing_before["n"] == GENERATIONS
    first = run.start_worker()

    request = do_delete_account(user=user, acting_user=user)

    def archived() -> int:
        progress = DeletionRequest.objects.get(pk=request.pk).progress
        return progress.get("archived", {}).get("logging_prefs.generation", 0)

    def mid_chunk() -> bool:
        # The worker's connection is inside a chunk's transaction, early in its pause
        # (purge_worker_hooks.py), so the kill lands before that chunk commits, while
        # its message is held unacknowledged. Killed just after a commit instead, the
        # worker could be taking the next message off the queue: kombu's Redis
        # transport pops it, then records it as unacknowledged, and a kill in between
        # loses it; only the sweeper (privacy.deletion.sweeper.SWEEP_GRACE, minutes) would
        # recover that purge, so the test timed out in about one run of four.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
                " AND clock_timestamp() - state_change < %s",
                [dt.timedelta(seconds=CHUNK_PAUSE_SECONDS / 2)],
            )
            return cursor.fetchone()[0] > 0

    wait_for(
        lambda: archived() >= KILL_AFTER_ROWS and mid_chunk(),
        PURGE_TIMEOUT,
        "the purge to be mid-chunk",
        run.logs,
    )
    first.sigkill_group()
    killed_at = DeletionRequest.objects.get(pk=request.pk)
    assert killed_at.status == DeletionRequest.Status.RUNNING, "killed too late: purge done"
    assert archived() < GENERATIONS
    assert run.notices() == []
    # What the killed worker committed, read in one snapshot: the rows its chunks
    # counted were moved, no more and no less (the chunk cut off by the kill rolled
    # back its copy and its delete together).
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (r.progress -> 'archived' ->> 'logging_prefs.generation')::int,
                   (SELECT coalesce(sum(generations), 0) FROM {BillingDailyTotal._meta.db_table}),
                   (SELECT count(*) FROM {Generation._meta.db_table} WHERE user_id = %s)
            FROM {DeletionRequest._meta.db_table} r WHERE r.id = %s
            """,  # noqa: S608
            [user_id, request.pk],
        )
        counted, in_ledger, still_linked = cursor.fetchone()
    assert 0 < counted < GENERATIONS
    assert in_ledger == counted
    assert still_linked == GENERATIONS - counted

    run.start_worker()
    done = wait_for(
        lambda: DeletionRequest.objects.filter(pk=request.pk, notice_sent_at__isnull=False).first(),
        PURGE_TIMEOUT + VISIBILITY_TIMEOUT_SECONDS,
        "the purge to complete on the second worker",
        run.logs,
    )

    assert done.status == DeletionRequest.Status.COMPLETED
    assert done.chunks_done > killed_at.chunks_done
    assert not User.objects.filter(pk=user_id).exists()
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    # Zero rows linked to the person; none of the generations is left at all.
    assert Generation.objects.filter(user_id=user_id).count() == 0
    assert Generation.objects.filter(api_key_id=api_key.pk).count() == 0
    assert Generation.objects.filter(gateway_id__startswith="bulk-").count() == 0
    # Their billing totals are in the ledger, each generation once, sums unchanged.
    ledger = BillingDailyTotal.objects.aggregate(n=Sum("generations"), **BILLING_SUMS)
    assert ledger == billing_before
    # Every row counted once, though a chunk was cut off by the kill.
    assert done.receipt["kept"][0]["count"] == GENERATIONS
    assert done.receipt["erased"]["text_erased"] == {"logging_prefs.generation": GENERATIONS}
    time.sleep(1)  # a duplicate notice would have had time to arrive
    assert run.notices() == ["Subject: [Portal] Your account has been deleted"]
    assert done.notice_email == ""
    assert AuditEvent.objects.filter(deletion_request=request, action="notice_sent").count() == 1
