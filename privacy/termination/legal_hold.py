"""A legal hold on a terminated account's purge: set or lifted, with a reason, before
the purge starts (privacy/termination/README.md, "Legal hold")."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from privacy import audit
from privacy.deletion.requests import enqueue_purge_after_commit, locked
from privacy.errors import TerminationError
from privacy.models import AuditEvent, DeletionRequest, Termination

Status = DeletionRequest.Status
Action = AuditEvent.Action


@transaction.atomic
def do_set_legal_hold(
    *, termination: Termination, acting_user: User, hold: bool, reason: str
) -> Termination:
    """Set or lift a legal hold on a terminated account's purge.

    While held, neither the sweeper nor a message already queued starts the purge
    (both read DeletionRequest.held, set here in the same transaction). Only before
    the purge started: erasure cannot be half undone, or held halfway. Lifting a hold
    whose grace period has passed starts the purge after commit.
    Side effects: updates the termination and its request; a LEGAL_HOLD_SET or
    LEGAL_HOLD_LIFTED audit event (without the reason: free text); may enqueue the purge.
    Raises TerminationError when the purge already started or the hold is unchanged,
    ValueError for an empty reason.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("setting or lifting a legal hold needs a reason")
    termination = Termination.objects.select_for_update().get(pk=termination.pk)
    set_legal_hold(termination, acting_user=acting_user, hold=hold, reason=reason)
    return termination


def set_legal_hold(termination: Termination, *, acting_user: User, hold: bool, reason: str) -> None:
    request = locked(termination.deletion_request)
    if request.status != Status.SCHEDULED:
        raise TerminationError(
            f"the deletion of this account is {request.status}: a legal hold applies only "
            "before the purge starts"
        )
    if termination.legal_hold == hold:
        raise TerminationError("a legal hold is already set" if hold else "there is no legal hold")
    now = timezone.now()
    termination.legal_hold = hold
    termination.legal_hold_reason = reason
    termination.legal_hold_changed_at = now
    termination.legal_hold_changed_by_id = acting_user.pk
    termination.save(
        update_fields=[
            "legal_hold",
            "legal_hold_reason",
            "legal_hold_changed_at",
            "legal_hold_changed_by_id",
        ]
    )
    request.held = hold
    request.save(update_fields=["held"])
    audit.record_termination(
        termination,
        action=Action.LEGAL_HOLD_SET if hold else Action.LEGAL_HOLD_LIFTED,
        actor_id=acting_user.pk,
        detail={},
    )
    if not hold and (request.purge_after is None or request.purge_after <= now):
        enqueue_purge_after_commit(request.pk)
