from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import ApiKey, User
from logging_prefs.actions import do_ingest_generations, do_set_api_key_logging
from logging_prefs.models import BillingDailyTotal, Generation, UsageDailyTotal
from privacy.deletion import purge, requests
from privacy.deletion.account import do_delete_account
from privacy.deletion.purge import HEARTBEAT_STALE_AFTER, do_claim_deletion_request, do_purge_chunk
from privacy.deletion.requests import (
    do_cancel_deletion_request,
    do_request_deletion,
    do_schedule_deletion_request,
    do_verify_deletion_request,
)
from privacy.deletion.sweeper import SWEEP_GRACE, do_sweep_deletion_requests
from privacy.errors import DeletionRequestError
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.factories.logging_prefs import ingest_numbered
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import BILLING_FIELDS, BILLING_SUMS, expected_totals, ledger_totals

pytestmark = pytest.mark.django_db

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Origin = DeletionRequest.Origin


def scheduled_account_deletion(user: User, capture) -> DeletionRequest:
    with capture(execute=True):
        return do_delete_account(user=user, acting_user=user)


def test_purge_is_idempotent_and_sends_exactly_one_notice(
    task_queue, small_chunks, django_capture_on_commit_callbacks, monkeypatch
):
    user = TraceableUserFactory()
    key = ApiKeyFactory(user=user)
    ingest_numbered(key, count=10, prompt=unique_marker("text"))
    billing_before = list(Generation.objects.filter(user=user).values_list(*BILLING_FIELDS))
    request = scheduled_account_deletion(user, django_capture_on_commit_callbacks)
    (first,) = task_queue.purges

    # A worker claims the request and erases two chunks; the second chunk's message is
    # delivered twice (the worker died after the commit, before acknowledging it).
    task_queue.purges.clear()
    task_queue.deliver(first, django_capture_on_commit_callbacks)
    (second,) = task_queue.purges
    task_queue.purges.clear()
    task_queue.deliver(second, django_capture_on_commit_callbacks)
    (third,) = task_queue.purges
    done_after_two = DeletionRequest.objects.get(pk=request.pk).progress
    task_queue.deliver(second, django_capture_on_commit_callbacks)  # the redelivery
    assert task_queue.purges == [third], "a redelivered message must not fork the chain"
    assert DeletionRequest.objects.get(pk=request.pk).progress == done_after_two

    # A crash in the middle of a chunk: its transaction rolls back, and the message is
    # delivered again. Nothing is counted, or erased, twice.
    real_erase = purge._erase
    calls = []

    def crash_after_first_entry(entry, *args):
        erased = real_erase(entry, *args)
        calls.append(entry.kind)
        if erased:
            raise SystemExit("worker killed mid-chunk")
        return erased

    monkeypatch.setattr(purge, "_erase", crash_after_first_entry)
    with pytest.raises(SystemExit):
        task_queue.deliver(task_queue.purges[0], django_capture_on_commit_callbacks)
    monkeypatch.setattr(purge, "_erase", real_erase)
    assert DeletionRequest.objects.get(pk=request.pk).progress == done_after_two

    task_queue.drain(django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert len(mail.outbox) == 1
    receipt = request.receipt

    # Running the whole thing again: every message, the notice task, the sweeper.
    for message in (first, second, third):
        task_queue.deliver(message, django_capture_on_commit_callbacks)
    task_queue.notices.append(request.pk)
    sweep = do_sweep_deletion_requests(now=timezone.now() + dt.timedelta(days=1))
    assert request.pk not in sweep.scheduled + sweep.reclaimed + sweep.notices
    task_queue.drain(django_capture_on_commit_callbacks)
    assert do_purge_chunk(request_id=request.pk) is False

    request.refresh_from_db()
    assert request.receipt == receipt
    assert receipt["kept"][0]["count"] == 10
    assert receipt["erased"]["text_erased"] == {"logging_prefs.generation": 10}
    assert receipt["erased"]["deleted"]["accounts.apikey"] == 1
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(deletion_request=request, action="notice_sent").count() == 1
    assert Generation.objects.filter(api_key_id=key.pk).count() == 0
    # Every row archived once, though a chunk was rolled back and messages redelivered.
    assert sum(row[0] for row in ledger_totals().values()) == 10
    assert ledger_totals() == expected_totals(billing_before)


def varied_generations(key: ApiKey, count: int, *, logged: str | None) -> list[str]:
    """Generations of different models, token counts and costs (each its own value),
    seven hours apart (over several days)."""
    started = timezone.now() - dt.timedelta(days=4)
    records = [
        {
            "id": unique_marker("gen"),
            "key_id": key.pk,
            "model": ("openai/gpt-4o", "anthropic/claude-3.5-sonnet", "mistral/small")[i % 3],
            "provider": ("OpenAI", "Anthropic", "Mistral")[i % 3],
            "app_url": "https://app.example.com/",
            "app_title": "An app",
            "prompt": f"{logged} #{i}" if logged else None,
            "completion": f"answer #{i}" if logged else None,
            "prompt_tokens": 100 + 7 * i,
            "completion_tokens": 3 * i,
            "cost_usd": str(Decimal("0.00000123") * (i + 1) + Decimal("0.5") * (i % 2)),
            "created_at": (started + dt.timedelta(hours=7 * i)).isoformat(),
        }
        for i in range(count)
    ]
    assert do_ingest_generations(records=records).stored == count
    return [record["id"] for record in records]


def test_account_purge_keeps_exactly_the_billing_fields_in_the_ledger(
    run_purge, small_chunks, django_capture_on_commit_callbacks
):
    user, other = TraceableUserFactory(), TraceableUserFactory()
    key = ApiKeyFactory(user=user)
    ids = varied_generations(key, 8, logged=unique_marker("text"))
    do_set_api_key_logging(api_key=key, acting_user=user, logging=ApiKey.Logging.NEVER)
    ids += varied_generations(key, 3, logged=None)
    other_ids = varied_generations(ApiKeyFactory(user=other), 4, logged=unique_marker("other"))
    mine = Generation.objects.filter(user=user)
    billing_before = sorted(mine.values_list(*BILLING_FIELDS))
    sums_before = mine.aggregate(**BILLING_SUMS)
    all_sums_before = Generation.objects.aggregate(**BILLING_SUMS)
    others_before = sorted(Generation.objects.filter(user=other).values_list())
    assert len(billing_before) == 11 and ledger_totals() == {}
    assert UsageDailyTotal.objects.filter(user=user).exists()
    others_usage = sorted(UsageDailyTotal.objects.filter(user=other).values_list())

    request = scheduled_account_deletion(user, django_capture_on_commit_callbacks)
    run_purge()

    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    # Nothing of the account is left among the generations...
    assert not Generation.objects.filter(gateway_id__in=ids).exists()
    assert not Generation.objects.filter(api_key_id=key.pk).exists()
    # ...and the ledger holds each of its requests once, in the totals of its day, model
    # and provider: three models over three days, eleven requests.
    totals = ledger_totals()
    assert totals == expected_totals(billing_before)
    assert len(totals) > 3 and sum(row[0] for row in totals.values()) == 11
    assert BillingDailyTotal.objects.aggregate(**BILLING_SUMS) == sums_before
    assert sums_before["cost_usd"] > Decimal("2")  # the costs differ, the sum is not trivial
    # Billing overall (live generations plus the ledger) is what it was.
    live = Generation.objects.aggregate(**BILLING_SUMS)
    assert {name: live[name] + sums_before[name] for name in BILLING_SUMS} == all_sums_before
    # The other account's generations are untouched, text and all.
    assert sorted(Generation.objects.filter(user=other).values_list()) == others_before
    assert Generation.objects.filter(gateway_id__in=other_ids).count() == 4
    # The person's usage summary goes with them; the other account's stays as it was.
    assert not UsageDailyTotal.objects.filter(user_id=user.pk).exists()
    assert sorted(UsageDailyTotal.objects.filter(user=other).values_list()) == others_usage
    # The receipt: 11 kept in the ledger, 8 of which had stored text.
    assert request.receipt["kept"][0]["count"] == 11
    assert request.receipt["kept"][0]["how"] == "archived"
    assert request.receipt["erased"]["text_erased"] == {"logging_prefs.generation": 8}
    (notice,) = mail.outbox
    assert "Requests kept only as billing totals (per day, model and provider, in the " in (
        notice.body
    )
    assert "anonymous billing ledger; no account, key, app or text): 11" in notice.body


def test_prompts_only_deletion_keeps_metadata_and_respects_older_than(
    run_purge, small_chunks, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    key = ApiKeyFactory(user=user)
    now = timezone.now()
    old_text, new_text = unique_marker("old prompt"), unique_marker("new prompt")
    old_ids = ingest_numbered(key, count=7, prompt=old_text, created_at=now - dt.timedelta(days=10))
    new_ids = ingest_numbered(key, count=2, prompt=new_text, created_at=now - dt.timedelta(hours=1))
    other = TraceableUserFactory()
    other_ids = ingest_numbered(
        ApiKeyFactory(user=other), count=2, prompt=old_text, created_at=now - dt.timedelta(days=10)
    )
    metadata = (
        "gateway_id",
        "user_id",
        "api_key_id",
        "model",
        "provider",
        "app_url",
        "app_title",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "created_at",
    )
    before = {row[0]: row for row in Generation.objects.values_list(*metadata)}

    request = do_request_deletion(
        user=user,
        acting_user=user,
        scope=Scope.PROMPTS,
        origin=Origin.USER,
        older_than=now - dt.timedelta(days=1),
    )
    do_verify_deletion_request(deletion_request=request, acting_user=user)
    with django_capture_on_commit_callbacks(execute=True):
        do_schedule_deletion_request(deletion_request=request, acting_user=user)
    run_purge()

    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.chunks_done >= 3
    old = Generation.objects.filter(gateway_id__in=old_ids)
    assert set(old.values_list("prompt", "completion", "text_state")) == {
        (None, None, Generation.TextState.DELETED)
    }
    newer = Generation.objects.filter(gateway_id__in=new_ids)
    assert all(new_text in prompt for prompt in newer.values_list("prompt", flat=True))
    assert set(newer.values_list("text_state", flat=True)) == {Generation.TextState.STORED}
    others = Generation.objects.filter(gateway_id__in=other_ids)
    assert set(others.values_list("text_state", flat=True)) == {Generation.TextState.STORED}
    # Metadata (billing and the account's own activity) is untouched, row by row.
    assert {row[0]: row for row in Generation.objects.values_list(*metadata)} == before
    user.refresh_from_db()
    assert user.is_active
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert request.receipt["erased"] == {
        "deleted": {},
        "text_erased": {"logging_prefs.generation": 7},
    }
    assert request.receipt["kept"] == []
    assert not BillingDailyTotal.objects.exists()  # the rows stay, nothing is archived
    assert [m.subject for m in mail.outbox] == [
        "[Portal] Your stored prompts and completions have been deleted"
    ]
    assert request.notice_email == ""


def test_cancel_is_refused_once_running(task_queue, django_capture_on_commit_callbacks):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=2, prompt="x")
    request = do_request_deletion(user=user, acting_user=user, scope=Scope.PROMPTS, origin="user")
    do_verify_deletion_request(deletion_request=request, acting_user=user)
    with django_capture_on_commit_callbacks(execute=True):
        do_schedule_deletion_request(deletion_request=request, acting_user=user)
    assert do_claim_deletion_request(request_id=request.pk) is not None

    with pytest.raises(DeletionRequestError, match="running"):
        do_cancel_deletion_request(deletion_request=request, acting_user=user)
    request.refresh_from_db()
    assert request.status == Status.RUNNING
    assert request.notice_email == user.email

    # Before it runs, cancelling works and drops the notice address; a queued message
    # for it then finds nothing to claim.
    waiting = do_request_deletion(user=user, acting_user=user, scope=Scope.PROMPTS, origin="user")
    do_verify_deletion_request(deletion_request=waiting, acting_user=user)
    with django_capture_on_commit_callbacks(execute=True):
        do_schedule_deletion_request(deletion_request=waiting, acting_user=user)
    do_cancel_deletion_request(deletion_request=waiting, acting_user=user)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.notice_email) == (Status.CANCELLED, "")
    assert do_claim_deletion_request(request_id=waiting.pk) is None
    with pytest.raises(DeletionRequestError):
        do_cancel_deletion_request(deletion_request=waiting, acting_user=user)


def test_sweeper_reenqueues_scheduled_requests_that_are_not_running(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    # The broker was down at commit: the on_commit publish failed, the request stayed.
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    lost_user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=lost_user), count=3, prompt=unique_marker("text"))
    from privacy import tasks

    real_enqueue = tasks.enqueue_purge
    tasks.enqueue_purge = broker_down
    try:
        with django_capture_on_commit_callbacks(execute=True):
            lost = do_delete_account(user=lost_user, acting_user=lost_user)
    finally:
        tasks.enqueue_purge = real_enqueue
    assert task_queue.purges == []
    lost.refresh_from_db()
    assert lost.status == Status.SCHEDULED

    just_scheduled = do_delete_account(user=TraceableUserFactory(), acting_user=None)
    later = do_request_deletion(
        user=TraceableUserFactory(), acting_user=None, scope="account", origin="termination"
    )
    do_verify_deletion_request(deletion_request=later, acting_user=None)
    do_schedule_deletion_request(
        deletion_request=later, acting_user=None, purge_after=timezone.now() + dt.timedelta(days=30)
    )
    running = do_delete_account(user=TraceableUserFactory(), acting_user=None)
    do_claim_deletion_request(request_id=running.pk)

    now = timezone.now() + SWEEP_GRACE + dt.timedelta(seconds=1)
    DeletionRequest.objects.filter(pk=just_scheduled.pk).update(scheduled_at=now)
    result = do_sweep_deletion_requests(now=now)

    assert result.scheduled == [lost.pk]
    assert result.reclaimed == []
    assert [m["request_id"] for m in task_queue.purges] == [lost.pk]
    run_purge()
    lost.refresh_from_db()
    assert lost.status == Status.COMPLETED
    assert not User.objects.filter(pk=lost_user.pk).exists()
    # The notice period of a termination: swept once it is due, not before.
    task_queue.purges.clear()
    due = do_sweep_deletion_requests(now=timezone.now() + dt.timedelta(days=31))
    assert later.pk in due.scheduled


def test_sweeper_reclaims_a_request_whose_worker_died(
    task_queue, small_chunks, django_capture_on_commit_callbacks
):
    user = TraceableUserFactory()
    ingest_numbered(ApiKeyFactory(user=user), count=8, prompt=unique_marker("text"))
    request = scheduled_account_deletion(user, django_capture_on_commit_callbacks)
    first = task_queue.purges.pop()
    task_queue.deliver(first, django_capture_on_commit_callbacks)
    (orphan,) = task_queue.purges  # the dead worker's next message, never delivered
    task_queue.purges.clear()
    progress = DeletionRequest.objects.get(pk=request.pk).progress

    # Within the heartbeat window the request counts as alive.
    assert do_sweep_deletion_requests().reclaimed == []
    assert task_queue.purges == []

    later = timezone.now() + HEARTBEAT_STALE_AFTER + dt.timedelta(seconds=1)
    DeletionRequest.objects.filter(pk=request.pk).update(
        heartbeat_at=timezone.now() - HEARTBEAT_STALE_AFTER - dt.timedelta(seconds=1)
    )
    result = do_sweep_deletion_requests(now=later)
    assert result.reclaimed == [request.pk]
    assert task_queue.purges == [{"request_id": request.pk, "claim": None, "chunk": 0}]

    task_queue.deliver(task_queue.purges.pop(), django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert str(request.claim_token) != orphan["claim"]
    assert request.progress != progress  # the new worker carried on from where it was
    # The old chain's message turns up late: it is dropped, the new chain goes on.
    task_queue.deliver(orphan, django_capture_on_commit_callbacks)
    assert len(task_queue.purges) == 1
    task_queue.drain(django_capture_on_commit_callbacks)

    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.receipt["kept"][0]["count"] == 8
    assert sum(row[0] for row in ledger_totals().values()) == 8
    assert len(mail.outbox) == 1
    actions_seen = list(
        AuditEvent.objects.filter(deletion_request=request).values_list("action", flat=True)
    )
    assert actions_seen.count("started") == 1
    assert actions_seen.count("reclaimed") == 1
    assert actions_seen.count("swept") == 1


def test_a_users_own_prompt_deletion_is_scheduled_at_once_and_never_opened_twice(task_queue):
    user = TraceableUserFactory()
    request, created = requests.do_delete_stored_prompts(user=user, acting_user=user)
    assert created
    assert request.status == DeletionRequest.Status.SCHEDULED
    assert request.verification_method == DeletionRequest.VerificationMethod.SIGNED_IN

    again, created_again = requests.do_delete_stored_prompts(
        user=user, acting_user=user, older_than=timezone.now() - dt.timedelta(days=1)
    )
    assert not created_again and again.pk == request.pk
    assert DeletionRequest.objects.filter(user_id=user.pk).count() == 1


def test_a_generation_ingested_after_its_keys_rows_were_archived_is_archived_before_the_account(
    run_purge, django_capture_on_commit_callbacks, monkeypatch
):
    """Generation.api_key has no database constraint (logging_prefs/models.py): a row
    that arrives once the purge has archived the account's generations, as its keys go,
    is held back by the account's own PROTECT link and archived by the next chunk, so no
    row is left pointing at the deleted key and billing counts it once."""
    user = TraceableUserFactory()
    key = ApiKeyFactory(user=user)
    ingest_numbered(key, count=4)
    request = scheduled_account_deletion(user, django_capture_on_commit_callbacks)
    erase = purge._erase
    late: list[Generation] = []

    def erase_with_a_late_row(entry, deletion_request, budget, progress):
        if entry.model is ApiKey and not late:
            # The chunk has archived the generations; a batch the gateway posted just
            # before the account closed commits now, before the key is deleted.
            late.append(
                Generation.objects.create(
                    gateway_id=unique_marker("late"),
                    user=user,
                    api_key=key,
                    model="openai/gpt-4o",
                    provider="OpenAI",
                    text_state=Generation.TextState.NOT_LOGGED,
                    prompt_tokens=7,
                    completion_tokens=5,
                    cost_usd=Decimal("0.5"),
                    created_at=timezone.now(),
                )
            )
        return erase(entry, deletion_request, budget, progress)

    monkeypatch.setattr(purge, "_erase", erase_with_a_late_row)
    run_purge()

    request.refresh_from_db()
    assert late and request.status == Status.COMPLETED
    assert request.chunks_done == 2  # the first chunk could not delete the account row
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert not Generation.objects.filter(api_key_id=key.pk).exists()
    assert not Generation.objects.filter(user_id=user.pk).exists()
    assert sum(row[0] for row in ledger_totals().values()) == 5
    assert request.receipt["kept"][0]["count"] == 5
