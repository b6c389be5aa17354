"""The sweeper (Celery beat, every five minutes: privacy/schedules.py): re-enqueues
what is due but not moving, so a lost message or a dead worker delays a purge by
minutes and never stops it (privacy/deletion/README.md)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from privacy import audit
from privacy.deletion.purge import HEARTBEAT_STALE_AFTER
from privacy.models import AuditEvent, DeletionRequest

logger = logging.getLogger(__name__)

Status = DeletionRequest.Status
Action = AuditEvent.Action

# A scheduled request is normally claimed within moments of its on_commit message; the
# sweeper re-enqueues only those left waiting longer than this (a broker outage).
SWEEP_GRACE = dt.timedelta(minutes=5)


# The sweeper's work per run; the next run picks up the rest.
SWEEP_BATCH = 500


@dataclass
class SweepResult:
    scheduled: list[int]
    reclaimed: list[int]
    notices: list[int]


def do_sweep_deletion_requests(*, now: dt.datetime | None = None) -> SweepResult:
    """Re-enqueue what is due but not moving (run by beat).

    - SCHEDULED, due and not under a legal hold, waiting longer than SWEEP_GRACE (a
      termination's grace period ends here, too): its message was lost (broker
      outage at commit) or is stuck behind others; a duplicate is harmless, the claim
      is a conditional UPDATE.
    - RUNNING with a heartbeat older than HEARTBEAT_STALE_AFTER: its worker died; the
      task reclaims it under a new claim and the old chain's messages are dropped.
    - COMPLETED with the notice not sent (the send failed): send it.
    Side effects: publishes tasks; a SWEPT audit event per purge re-enqueued.
    """
    from privacy import tasks

    now = now or timezone.now()
    scheduled = list(
        DeletionRequest.objects.filter(
            Q(purge_after__isnull=True) | Q(purge_after__lte=now),
            status=Status.SCHEDULED,
            # A legal hold stops the purge until it is lifted (do_set_legal_hold).
            held=False,
            scheduled_at__lte=now - SWEEP_GRACE,
        )
        .order_by("scheduled_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    reclaimed = list(
        DeletionRequest.objects.filter(
            Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_STALE_AFTER),
            status=Status.RUNNING,
        )
        .order_by("heartbeat_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    notices = list(
        DeletionRequest.objects.filter(status=Status.COMPLETED, notice_sent_at__isnull=True)
        .exclude(notice_email="")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for reason, ids in (("scheduled", scheduled), ("stale_heartbeat", reclaimed)):
        for request_id in ids:
            audit.record(
                action=Action.SWEPT,
                deletion_request=DeletionRequest(pk=request_id),
                detail={"reason": reason},
            )
            _publish(tasks.enqueue_purge, request_id)
    for request_id in notices:
        _publish(tasks.enqueue_notice, request_id)
    return SweepResult(scheduled=scheduled, reclaimed=reclaimed, notices=notices)


def _publish(enqueue, request_id: int) -> None:
    # One unreachable broker must not stop the sweep of the rest; the next run retries.
    try:
        enqueue(request_id)
    except Exception:
        logger.exception("could not enqueue deletion request %s", request_id)
