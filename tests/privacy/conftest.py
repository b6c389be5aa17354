"""Fixtures of the privacy tests: the purge task run in-process the way a worker runs
it (message by message, each re-enqueue captured), in chunks small or as in production."""

from __future__ import annotations

import pytest

from privacy import tasks
from tests.helpers.privacy import TaskQueue


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
