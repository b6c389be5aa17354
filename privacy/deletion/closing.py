"""The one closing step of every account deletion and termination: the account stops
working at once, in the caller's transaction, before anything is erased."""

from __future__ import annotations

from allauth.usersessions.models import UserSession

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey, User
from privacy import audit
from privacy.audit import actor_id
from privacy.models import AuditEvent, DeletionRequest

Action = AuditEvent.Action


def close_account(
    *,
    user: User,
    request: DeletionRequest,
    acting_user: User | None,
    keep_password: bool = False,
) -> None:
    """Deactivate, end every session, revoke every key (inside the caller's transaction).

    The shared closing step of every account deletion and termination. A terminated
    account keeps its password hash (`keep_password`): the person proves who they are
    with it to read the termination notice at sign-in, and an inactive account cannot
    sign in either way (Django's backends refuse it, and a session of an inactive user
    is dropped on its next request).
    """
    user.is_active = False
    if not keep_password:
        # A new password hash changes the session auth hash, so a session the portal did
        # not track (none should exist) is refused on its next request as well.
        user.set_unusable_password()
    user.save(update_fields=["is_active", "password"])
    sessions_ended = end_sessions(user.pk)
    keys_revoked = 0
    for api_key in ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by():
        keys_revoked += do_revoke_api_key(api_key=api_key, acting_user=acting_user)
    audit.record(
        action=Action.ACCOUNT_CLOSED,
        deletion_request=request,
        actor_id=actor_id(acting_user),
        detail={"sessions_ended": sessions_ended, "keys_revoked": keys_revoked},
    )


def end_sessions(user_id: int) -> int:
    """End every session of the account: the session store (database and cache) and
    allauth's UserSession rows."""
    ended = 0
    for user_session in UserSession.objects.filter(user_id=user_id).order_by():
        user_session.end()
        ended += 1
    return ended
