"""State changes to identity. Views, admin and tasks call these; nothing else writes."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import API_KEY_PREFIX, ApiKey, User, generate_api_key, hash_api_key


@transaction.atomic
def do_update_profile(*, user: User, acting_user: User, display_name: str) -> User:
    """Change the modifiable personal information of `user`.

    Side effects: saves the user row (display_name only).
    """
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user


@transaction.atomic
def do_create_api_key(
    *, user: User, acting_user: User, name: str, logging: str = ApiKey.Logging.AS_ACCOUNT
) -> tuple[ApiKey, str]:
    """Create an API key for `user` and return it with the raw key.

    The raw key exists only in the return value: the database keeps its SHA-256.
    Side effects: inserts one ApiKey row.
    """
    raw_key = generate_api_key()
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw_key[: len(API_KEY_PREFIX) + 6],
        hashed_key=hash_api_key(raw_key),
        logging=logging,
    )
    return api_key, raw_key


@transaction.atomic
def do_rename_api_key(*, api_key: ApiKey, acting_user: User, name: str) -> ApiKey:
    """Side effects: saves the key's name."""
    api_key.name = name
    api_key.save(update_fields=["name"])
    return api_key


@transaction.atomic
def do_revoke_api_key(*, api_key: ApiKey, acting_user: User | None) -> bool:
    """Revoke `api_key`; the gateway's next decision for it is 401.

    Returns False when it was already revoked (revoking twice changes nothing).
    Side effects: sets revoked_at.
    """
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    api_key.refresh_from_db(fields=["revoked_at"])
    return bool(updated)
