"""Periodic tasks of this app, merged into CELERY_BEAT_SCHEDULE in portal/settings.py.

Kept free of Django imports: settings import this module.
"""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    "delete-closed-tickets": {
        "task": "support.tasks.delete_closed_tickets",
        "schedule": crontab(hour=3, minute=45),
        # A run that never started before the next night is superseded by that night's.
        "options": {"expires": 60 * 60 * 12},
    },
}
