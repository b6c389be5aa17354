from __future__ import annotations

from accounts.models import User
from logging_prefs.actions import do_create_logging_preference


def create_preference_for_new_user(
    sender, instance: User, created: bool, raw: bool = False, **kwargs
):
    if created and not raw:
        do_create_logging_preference(user=instance)
