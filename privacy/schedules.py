"""Periodic tasks of this app, merged into CELERY_BEAT_SCHEDULE in portal/settings.py.

Kept free of Django imports: settings import this module.
"""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {
    # Re-enqueues deletion requests that are due but not moving (a publish lost in a
    # broker outage, a worker that died mid-purge, a notice whose send failed). Every
    # five minutes: a lost purge restarts within minutes, and a sweep is a few indexed
    # queries. The sweeper's own thresholds (privacy/deletion/sweeper.py: SWEEP_GRACE,
    # HEARTBEAT_STALE_AFTER) decide what counts as stuck, not this interval.
    "sweep-deletion-requests": {
        "task": "privacy.tasks.sweep_deletion_requests",
        "schedule": 60 * 5,
        # While workers are down, sweeps must not pile up: the next one does the same work.
        "options": {"expires": 60 * 5},
    },
}
