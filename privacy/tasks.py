"""Celery tasks of the privacy lifecycle: thin wrappers that take ids and call actions.

Every task is idempotent: running one twice, or again after its worker died, erases
nothing twice and sends no second notice (privacy/deletion/README.md).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from privacy.deletion.notices import do_send_deletion_notice
from privacy.deletion.purge import Claim, ClaimLost, do_claim_deletion_request, do_purge_chunk
from privacy.deletion.sweeper import do_sweep_deletion_requests

# A lost database connection (failover, restart) is worth a few quick retries; after
# that the chain stops and the sweeper hands the request to a new worker.
_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, **_RETRY)
def purge_deletion_request(self, request_id: int, claim: str | None = None, chunk: int = 0) -> bool:
    """Erase one chunk of a deletion request, then re-enqueue itself while rows remain.

    The first message claims the request; each follow-up carries the claim token and
    the chunk number, so a redelivered or duplicated message is recognised and dropped.
    """
    if claim is None:
        held = do_claim_deletion_request(request_id=request_id)
        if held is None:
            return False
    else:
        held = Claim(token=claim, chunk=chunk)
    try:
        has_more = do_purge_chunk(request_id=request_id, claim=held)
    except ClaimLost:
        # Finished or taken over; if it finished, the notice may still be owed.
        do_send_deletion_notice(request_id=request_id)
        return False
    if has_more:
        # Back onto the queue this message came from.
        queue = (self.request.delivery_info or {}).get("routing_key")
        transaction.on_commit(
            lambda: enqueue_purge(request_id, claim=held.token, chunk=held.chunk + 1, queue=queue)
        )
    else:
        do_send_deletion_notice(request_id=request_id)
    return has_more


@shared_task(acks_late=True, reject_on_worker_lost=True, **_RETRY)
def send_deletion_notice(request_id: int) -> bool:
    return do_send_deletion_notice(request_id=request_id)


@shared_task(acks_late=True)
def sweep_deletion_requests() -> dict[str, int]:
    """Beat: re-enqueue deletion requests that are due but not moving."""
    result = do_sweep_deletion_requests()
    return {
        "scheduled": len(result.scheduled),
        "reclaimed": len(result.reclaimed),
        "notices": len(result.notices),
    }


def enqueue_purge(
    request_id: int, *, claim: str | None = None, chunk: int = 0, queue: str | None = None
) -> None:
    purge_deletion_request.apply_async(
        args=(request_id,), kwargs={"claim": claim, "chunk": chunk}, queue=queue
    )


def enqueue_notice(request_id: int) -> None:
    send_deletion_notice.apply_async(args=(request_id,))
