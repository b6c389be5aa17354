"""State changes to identity. Views, admin and tasks call these; nothing else writes."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User


@transaction.atomic
def do_update_profile(*, user: User, acting_user: User, display_name: str) -> User:
    """Change the modifiable personal information of `user`.

    Side effects: saves the user row (display_name only).
    """
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user
