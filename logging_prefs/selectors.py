"""Reads about logging that more than one caller needs."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import ApiKey, hash_api_key
from logging_prefs.models import LoggingPreference


class UnknownKey(Exception):
    """No such key, or it was revoked (the gateway answers 401)."""


class AccountInactive(Exception):
    """The key's account is deactivated or terminated (the gateway answers 403)."""


@dataclass(frozen=True)
class Decision:
    key_id: int
    account: str
    log_prompts: bool
    provider_policy: dict[str, bool]


def decision_for_key(raw_key: str) -> Decision:
    """What a key may log and where it may route, read from the database.

    One query: the key by its unique hash (accounts_apikey_hashed_key_key), joined to
    the account and its preference row. Nothing is cached, so a change is in force for
    the very next decision after it commits.
    """
    api_key = (
        ApiKey.objects.select_related("user__logging_preference")
        .only(
            "id",
            "logging",
            "revoked_at",
            "user__public_id",
            "user__is_active",
            *(f"user__logging_preference__{name}" for name in LoggingPreference.FIELDS),
        )
        .filter(hashed_key=hash_api_key(raw_key))
        .first()
    )
    if api_key is None or api_key.revoked_at is not None:
        raise UnknownKey
    user = api_key.user
    if not user.is_active:
        raise AccountInactive
    preference = user.logging_preference
    return Decision(
        key_id=api_key.id,
        account=str(user.public_id),
        log_prompts=preference.log_prompts and api_key.logging == ApiKey.Logging.AS_ACCOUNT,
        provider_policy=preference.provider_policy(),
    )
