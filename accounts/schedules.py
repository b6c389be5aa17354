"""Periodic tasks of this app, merged into CELERY_BEAT_SCHEDULE in portal/settings.py.

Kept free of Django imports: settings import this module.
"""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {
    # Sessions past their expiry, the session list's records of them (an IP address and
    # a browser each) and expired email-confirmation keys: unusable, yet kept by Django
    # and allauth until deleted. Daily; a missed run only leaves them a day longer.
    "clear-expired-sign-in-records": {
        "task": "accounts.tasks.clear_expired_sign_in_records",
        "schedule": 60 * 60 * 24,
        "options": {"expires": 60 * 60 * 12},
    },
}
