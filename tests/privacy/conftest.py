"""Helpers for the privacy tests: data built through actions, and the purge task run
in-process the way a worker runs it (message by message, each re-enqueue captured)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.actions import do_create_api_key, do_update_profile
from accounts.models import ApiKey, User
from logging_prefs.actions import do_ingest_generations
from logging_prefs.models import BillingDailyTotal
from privacy import tasks
from tests.factories import UserFactory

# What billing needs of a generation: its purge adds these into the day's totals in the
# ledger (gateway_id only to find the rows before the purge).
BILLING_FIELDS = (
    "gateway_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "created_at",
)


def expected_totals(rows, plus: dict | None = None) -> dict:
    """The ledger's totals after adding generations `rows` (tuples of BILLING_FIELDS)
    to `plus` (a ledger_totals() result): (UTC day, model, provider) -> (generations,
    prompt tokens, completion tokens, cost)."""
    totals = {key: list(value) for key, value in (plus or {}).items()}
    for _, model, provider, prompt, completion, cost, created_at in rows:
        key = (created_at.astimezone(dt.UTC).date(), model, provider)
        total = totals.setdefault(key, [0, 0, 0, Decimal(0)])
        for n, value in enumerate((1, prompt, completion, cost)):
            total[n] += value
    return {key: tuple(value) for key, value in totals.items()}


def ledger_totals() -> dict:
    """Every row of the anonymous billing ledger, in expected_totals' shape."""
    return {
        (row.day, row.model, row.provider): (
            row.generations,
            row.prompt_tokens,
            row.completion_tokens,
            row.cost_usd,
        )
        for row in BillingDailyTotal.objects.all()
    }


BILLING_SUMS = {
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "cost_usd": Sum("cost_usd"),
}


def unique_marker(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex}"


def make_user(*, display_name: str | None = None) -> User:
    user = UserFactory(email=f"{unique_marker('person')}@example.com")
    return do_update_profile(
        user=user, acting_user=user, display_name=display_name or unique_marker("Ada Lovelace")
    )


def ingest(
    api_key: ApiKey,
    *,
    count: int,
    prompt: str | None = None,
    created_at: dt.datetime | None = None,
    app_url: str = "https://app.example.com/chat",
    app_title: str = "My chat app",
) -> list[str]:
    """Post `count` generations for `api_key` through the real ingestion action."""
    created_at = created_at or timezone.now() - dt.timedelta(minutes=1)
    records = [
        {
            "id": unique_marker("gen"),
            "key_id": api_key.pk,
            "model": "openai/gpt-4o",
            "provider": "OpenAI",
            "app_url": app_url,
            "app_title": app_title,
            "prompt": f"{prompt} #{i}" if prompt else None,
            "completion": f"completion of {prompt} #{i}" if prompt else None,
            "prompt_tokens": 10 + i,
            "completion_tokens": 20 + i,
            "cost_usd": "0.00012000",
            "created_at": created_at.isoformat(),
        }
        for i in range(count)
    ]
    result = do_ingest_generations(records=records)
    assert result.stored == count, result.as_dict()
    return [record["id"] for record in records]


def new_key(user: User, name: str = "default") -> ApiKey:
    api_key, _ = do_create_api_key(user=user, acting_user=user, name=name)
    return api_key


@dataclass
class TaskQueue:
    """Stands in for the broker: what the actions and the task publish is kept here,
    and `drain` delivers it to the real task function, one message at a time."""

    purges: list[dict] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)
    delivered: int = 0

    def drain(self, capture: Callable, limit: int = 10_000) -> None:
        while self.purges:
            message = self.purges.pop(0)
            self.deliver(message, capture)
            assert self.delivered < limit, "the purge never finished"
        while self.notices:
            with capture(execute=True):
                tasks.send_deletion_notice.run(self.notices.pop(0))

    def deliver(self, message: dict, capture: Callable) -> bool:
        self.delivered += 1
        with capture(execute=True):
            return tasks.purge_deletion_request.run(
                message["request_id"], claim=message["claim"], chunk=message["chunk"]
            )


@pytest.fixture
def task_queue(monkeypatch) -> TaskQueue:
    queue = TaskQueue()

    def enqueue_purge(request_id, *, claim=None, chunk=0, queue_name=None, **kwargs):
        queue.purges.append({"request_id": request_id, "claim": claim, "chunk": chunk})

    monkeypatch.setattr(tasks, "enqueue_purge", enqueue_purge)
    monkeypatch.setattr(tasks, "enqueue_notice", queue.notices.append)
    return queue


@pytest.fixture
def run_purge(task_queue, django_capture_on_commit_callbacks):
    """Deliver every queued purge message until the queue is empty."""

    def run() -> None:
        task_queue.drain(django_capture_on_commit_callbacks)

    return run


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows, so a small account takes many chunks."""
    from privacy.deletion import purge

    monkeypatch.setattr(purge, "PURGE_CHUNK_SIZE", 3)
    return 3
