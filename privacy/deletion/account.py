"""Deleting a whole account: closed at once, erased in the background. The person's own
"delete my account", and the path every other closing takes (termination, an under-13
report, an account nobody can enter)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.models import User
from privacy.deletion.requests import (
    do_request_deletion,
    do_verify_deletion_request,
    open_account_deletion,
    require_self_or_superuser,
    schedule_request,
)
from privacy.models import DeletionRequest

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Method = DeletionRequest.VerificationMethod


@transaction.atomic
def do_delete_account(
    *, user: User, acting_user: User | None, origin: str = DeletionRequest.Origin.USER
) -> DeletionRequest:
    """Delete `user`'s account: close it at once, erase its data in the background.

    In this one transaction: the account is deactivated and its password made unusable,
    every session ends, every API key is revoked, and a SCHEDULED account deletion is
    recorded (or an open one reused). After commit the purge task is enqueued; it erases
    everything in the personal-data registry and sends the completion notice.
    Side effects: as above, plus audit events.
    Raises ForbiddenStep when `acting_user` is someone else and not a superuser.
    """
    require_self_or_superuser(user=user, acting_user=acting_user)
    return delete_account(user=user, acting_user=acting_user, origin=origin)


def delete_account(
    *,
    user: User,
    acting_user: User | None,
    origin: str,
    verification_method: str | None = None,
    verification_note: str = "",
    purge_after: dt.datetime | None = None,
    keep_password: bool = False,
) -> DeletionRequest:
    """Request, verify and schedule an account deletion in the caller's transaction:
    the one path by which an account is closed at once (do_delete_account, termination,
    under-13). An open request for the account is taken over where it stands."""
    # The account row is locked first: ingestion batches hold it FOR SHARE, so once
    # this commits no batch can still be storing text under the old state.
    user = User.objects.select_for_update().get(pk=user.pk)
    request = open_account_deletion(user.pk)
    if request is None:
        request = do_request_deletion(
            user=user, acting_user=acting_user, scope=Scope.ACCOUNT, origin=origin
        )
    if request.status == Status.RECEIVED:
        request = do_verify_deletion_request(
            deletion_request=request,
            acting_user=acting_user,
            verification_method=verification_method,
            verification_note=verification_note,
        )
    if request.status == Status.VERIFIED:
        request = schedule_request(
            request,
            acting_user=acting_user,
            purge_after=purge_after,
            keep_password=keep_password,
        )
    return request


@transaction.atomic
def do_erase_unconfirmed_account(*, user: User) -> DeletionRequest:
    """Close and erase an account nobody can enter: it signed up with an address it
    never confirmed, and lost that address (its owner confirmed it on another account,
    or its confirmation expired; accounts.actions). The system acts: no person does.

    Side effects: as do_delete_account (deactivated, sessions ended, keys revoked, an
    account deletion with origin UNCONFIRMED scheduled now, the purge after commit);
    no notice is mailed, since the account has no verified address.
    """
    return delete_account(
        user=user,
        acting_user=None,
        origin=DeletionRequest.Origin.UNCONFIRMED,
        verification_method=Method.COMPANY_DECISION,
    )
