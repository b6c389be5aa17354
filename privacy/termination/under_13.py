"""A report that an account belongs to a child under 13: closed and erased at once, with
no grace period (privacy/termination/README.md, "Under 13")."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from privacy.deletion.account import delete_account
from privacy.deletion.requests import do_cancel_deletion_request
from privacy.errors import ForbiddenStep, TerminationError
from privacy.models import DeletionRequest
from privacy.selectors import account_step_refusal

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Method = DeletionRequest.VerificationMethod


@transaction.atomic
def do_report_under_13(*, user: User, acting_user: User, note: str = "") -> DeletionRequest:
    """Act on a report that `user` is under 13 (the policy's Children's section): the
    account is closed and its data erased at once, with no grace period.

    In one transaction: any open, not yet running account deletion (the person's own,
    or a termination's with its grace period) is cancelled, and an account deletion
    with origin UNDER_13 is recorded, verified (a company decision; `note` says how the
    report came in) and scheduled now: the account is deactivated with an unusable
    password, its sessions end and its keys are revoked. After commit the purge starts.
    Side effects: as above; audit events.
    Raises TerminationError when the account is under a legal hold or its purge is
    already running (nothing to add); ForbiddenStep when support reports a staff or
    superuser account; ValueError for an over-long note.
    """
    if user.pk == acting_user.pk:
        raise TerminationError("you cannot report your own account")
    user = User.objects.select_for_update().get(pk=user.pk)
    refusal = account_step_refusal(acting_user=acting_user, user=user, step="report as under 13")
    if refusal:
        raise ForbiddenStep(refusal)
    # The open request is locked before its hold is read: a legal hold being set right
    # now (do_set_legal_hold locks the same row) is waited for and then seen, so the
    # hold wins; an unlocked read would miss it and cancel the held request.
    existing = (
        DeletionRequest.objects.select_for_update()
        .filter(user_id=user.pk, scope=Scope.ACCOUNT, status__in=DeletionRequest.OPEN_STATUSES)
        .first()
    )
    if existing is not None:
        if existing.held:
            raise TerminationError(
                "this account's deletion is under a legal hold: it must be lifted first"
            )
        if existing.status == Status.RUNNING:
            raise TerminationError("this account is already being deleted (the purge is running)")
        if existing.status == Status.SCHEDULED and existing.purge_after is None:
            raise TerminationError("this account is already being deleted, with no grace period")
        do_cancel_deletion_request(deletion_request=existing, acting_user=acting_user)
    return delete_account(
        user=user,
        acting_user=acting_user,
        origin=DeletionRequest.Origin.UNDER_13,
        verification_method=Method.COMPANY_DECISION,
        verification_note=note,
    )
