"""Periodic tasks of this app, merged into CELERY_BEAT_SCHEDULE in portal/settings.py.

Kept free of Django imports: settings import this module.
"""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Nightly, after the day's traffic peak; the task re-queues itself until done.
    "expire-stored-text": {
        "task": "logging_prefs.tasks.expire_stored_text",
        "schedule": crontab(hour=3, minute=15),
        # A run that never started before the next night is superseded by that night's.
        "options": {"expires": 60 * 60 * 12},
    },
    # The text of people who chose a shorter period than the portal's, after the above.
    "expire-text-past-chosen-retention": {
        "task": "logging_prefs.tasks.expire_text_past_chosen_retention",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 60 * 60 * 12},
    },
    # Requests older than PORTAL_ACTIVITY_RETENTION_DAYS become daily totals.
    "fold-old-activity": {
        "task": "logging_prefs.tasks.fold_old_activity",
        "schedule": crontab(hour=3, minute=45),
        "options": {"expires": 60 * 60 * 12},
    },
    "categorise-stored-prompts": {
        "task": "logging_prefs.tasks.categorise_stored_prompts",
        "schedule": crontab(minute="*/10"),
        # While workers are down, beat's messages must not pile up: the next one does
        # the same work.
        "options": {"expires": 60 * 10},
    },
}
