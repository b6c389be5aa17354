"""A deletion request's lifecycle up to the purge: received, verified, scheduled, or
rejected or cancelled on the way (privacy/deletion/README.md, "States"). Views, the
admin, termination and under-13 call these; nothing else writes a DeletionRequest
before its purge starts.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from privacy import audit
from privacy.audit import actor_id, iso
from privacy.deletion import notices
from privacy.deletion.closing import close_account
from privacy.errors import DeletionRequestError, ForbiddenStep
from privacy.models import DELETION_DUE_AFTER, AuditEvent, DeletionRequest
from privacy.selectors import account_step_refusal, request_step_refusal, verified_address

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Action = AuditEvent.Action
Method = DeletionRequest.VerificationMethod


def enqueue_purge_after_commit(request_id: int) -> None:
    """Start the purge once the transaction commits.

    robust: a broker outage must not turn a committed request into an error page; the
    request stays SCHEDULED and the sweeper enqueues it again.
    """
    from privacy import tasks

    transaction.on_commit(functools.partial(tasks.enqueue_purge, request_id), robust=True)


def locked(deletion_request: DeletionRequest) -> DeletionRequest:
    return DeletionRequest.objects.select_for_update().get(pk=deletion_request.pk)


def _require(request: DeletionRequest, allowed: tuple[str, ...], verb: str) -> None:
    if request.status not in allowed:
        raise DeletionRequestError(f"cannot {verb} a request that is {request.status}")


@transaction.atomic
def do_request_deletion(
    *,
    user: User,
    acting_user: User | None,
    scope: str,
    origin: str,
    older_than: dt.datetime | None = None,
    notice_email: str | None = None,
) -> DeletionRequest:
    """Record a request to erase `user`'s stored prompts (optionally only those older
    than `older_than`) or the whole account. It waits in RECEIVED for verification.

    An account deletion already open for `user` is returned instead of a second one.
    Side effects: inserts a DeletionRequest (its notice address is `user`'s email unless
    given) and a REQUESTED audit event.
    Raises ForbiddenStep when support opens one for a staff or superuser account.
    """
    if scope not in Scope.values:
        raise ValueError(f"unknown scope: {scope}")
    if origin not in DeletionRequest.Origin.values:
        raise ValueError(f"unknown origin: {origin}")
    if older_than is not None and scope != Scope.PROMPTS:
        raise ValueError("older_than applies only to deleting stored prompts")
    own = (
        acting_user is not None
        and acting_user.pk == user.pk
        and origin == DeletionRequest.Origin.USER
    )
    if not own:
        # The row as it is now: a stale object must not hide a promotion to staff.
        current = User.objects.filter(pk=user.pk).first() or user
        refusal = account_step_refusal(
            acting_user=acting_user, user=current, step="open a deletion request for"
        )
        if refusal:
            raise ForbiddenStep(refusal)
    if scope == Scope.ACCOUNT:
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = open_account_deletion(user.pk)
        if existing is not None:
            return existing
    now = timezone.now()
    request = DeletionRequest.objects.create(
        user_id=user.pk,
        scope=scope,
        older_than=older_than,
        origin=origin,
        status=Status.RECEIVED,
        received_at=now,
        received_by_id=actor_id(acting_user),
        due_at=now + DELETION_DUE_AFTER,
        # Only an address the account verified: User.email may be one it never proved.
        notice_email=verified_address(user) if notice_email is None else notice_email,
    )
    audit.record(
        action=Action.REQUESTED,
        deletion_request=request,
        actor_id=actor_id(acting_user),
        detail={"scope": scope, "origin": origin, "older_than": iso(older_than)},
    )
    return request


def open_account_deletion(user_id: int) -> DeletionRequest | None:
    return DeletionRequest.objects.filter(
        user_id=user_id, scope=Scope.ACCOUNT, status__in=DeletionRequest.OPEN_STATUSES
    ).first()


@transaction.atomic
def do_verify_deletion_request(
    *,
    deletion_request: DeletionRequest,
    acting_user: User | None,
    verification_method: str | None = None,
    verification_note: str = "",
) -> DeletionRequest:
    """RECEIVED -> VERIFIED: the requester is who they say (signed in and
    re-authenticated, or checked by support), recorded with how.

    `verification_method` is one of DeletionRequest.VerificationMethod; "other" needs a
    note saying what was checked. Left out, the person acting on their own request is
    SIGNED_IN (the account pages re-authenticate before they call this).
    Side effects: updates the request; a VERIFIED audit event (with the method, not
    the note: the note is free text).
    Raises DeletionRequestError for a request not RECEIVED, ValueError for a bad method,
    ForbiddenStep when support verifies a request about a staff or superuser account.
    """
    acting_id = actor_id(acting_user)
    if verification_method is None:
        is_self = acting_id is not None and acting_id == deletion_request.user_id
        verification_method = Method.SIGNED_IN if is_self else ""
    if verification_method and verification_method not in Method.values:
        raise ValueError(f"unknown verification method: {verification_method}")
    verification_note = verification_note.strip()
    if verification_method == Method.OTHER and not verification_note:
        raise ValueError("say how the requester was verified")
    limit = DeletionRequest._meta.get_field("verification_note").max_length
    if len(verification_note) > limit:
        raise ValueError(f"a verification note has at most {limit} characters")
    request = locked(deletion_request)
    _require(request, (Status.RECEIVED,), "verify")
    refusal = request_step_refusal(acting_user=acting_user, deletion_request=request, step="verify")
    if refusal:
        raise ForbiddenStep(refusal)
    request.status = Status.VERIFIED
    request.verified_at = timezone.now()
    request.verified_by_id = acting_id
    request.verification_method = verification_method
    request.verification_note = verification_note
    request.save(
        update_fields=[
            "status",
            "verified_at",
            "verified_by_id",
            "verification_method",
            "verification_note",
        ]
    )
    audit.record(
        action=Action.VERIFIED,
        deletion_request=request,
        actor_id=acting_id,
        detail={"method": verification_method},
    )
    return request


@transaction.atomic
def do_schedule_deletion_request(
    *,
    deletion_request: DeletionRequest,
    acting_user: User | None,
    purge_after: dt.datetime | None = None,
) -> DeletionRequest:
    """VERIFIED -> SCHEDULED, and start the purge (now, or once `purge_after` passed:
    the sweeper starts it then).

    For the whole account, the account is closed in this same transaction
    (privacy/deletion/closing.py).
    Side effects: updates the request; may deactivate the account, end its sessions and
    revoke its keys; audit events; after commit, enqueues the purge task.
    Raises DeletionRequestError for a request not VERIFIED; ForbiddenStep for support
    scheduling a request about a staff or superuser account, or one they opened and
    verified themselves (four eyes: someone else schedules it).
    """
    request = locked(deletion_request)
    _require(request, (Status.VERIFIED,), "schedule")
    refusal = request_step_refusal(
        acting_user=acting_user, deletion_request=request, step="schedule"
    )
    if refusal:
        raise ForbiddenStep(refusal)
    return schedule_request(request, acting_user=acting_user, purge_after=purge_after)


def schedule_request(
    deletion_request: DeletionRequest,
    *,
    acting_user: User | None,
    purge_after: dt.datetime | None,
    keep_password: bool = False,
) -> DeletionRequest:
    """do_schedule_deletion_request's work, inside the caller's transaction."""
    request = locked(deletion_request)
    _require(request, (Status.VERIFIED,), "schedule")
    now = timezone.now()
    if request.scope == Scope.ACCOUNT:
        user = User.objects.select_for_update().filter(pk=request.user_id).first()
        if user is not None:
            close_account(
                user=user, request=request, acting_user=acting_user, keep_password=keep_password
            )
    request.status = Status.SCHEDULED
    request.scheduled_at = now
    request.scheduled_by_id = actor_id(acting_user)
    request.purge_after = purge_after
    request.save(update_fields=["status", "scheduled_at", "scheduled_by_id", "purge_after"])
    audit.record(
        action=Action.SCHEDULED,
        deletion_request=request,
        actor_id=actor_id(acting_user),
        detail={"purge_after": iso(purge_after)},
    )
    if purge_after is None or purge_after <= now:
        enqueue_purge_after_commit(request.pk)
    return request


@transaction.atomic
def do_reject_deletion_request(
    *, deletion_request: DeletionRequest, acting_user: User, reason: str
) -> DeletionRequest:
    """RECEIVED or VERIFIED -> REJECTED (support: e.g. the requester could not be
    verified). Nothing is erased; the requester is told why by mail, and the address is
    then dropped.

    The mail is sent inside the transaction (as the completion notice is): if it cannot
    be sent, nothing changes and support sees the error, rather than a rejection the
    person never hears about.
    Side effects: updates the request; sends one mail (when the request has a notice
    address); a REJECTED audit event (the reason stays on the request, not in the
    trail: it is free text).
    Raises DeletionRequestError for a request past verification, ValueError for an
    empty reason.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("a rejection needs a reason: the requester is told it")
    limit = DeletionRequest._meta.get_field("rejection_reason").max_length
    if len(reason) > limit:
        raise ValueError(f"a rejection reason has at most {limit} characters")
    request = locked(deletion_request)
    _require(request, (Status.RECEIVED, Status.VERIFIED), "reject")
    told = bool(request.notice_email)
    if told:
        notices.send_rejection(request, reason)
    request.status = Status.REJECTED
    request.rejected_at = timezone.now()
    request.rejected_by_id = actor_id(acting_user)
    request.rejection_reason = reason
    request.notice_email = ""
    request.save(
        update_fields=[
            "status",
            "rejected_at",
            "rejected_by_id",
            "rejection_reason",
            "notice_email",
        ]
    )
    audit.record(
        action=Action.REJECTED,
        deletion_request=request,
        actor_id=actor_id(acting_user),
        detail={"told": told},
    )
    return request


@transaction.atomic
def do_cancel_deletion_request(
    *, deletion_request: DeletionRequest, acting_user: User | None
) -> DeletionRequest:
    """RECEIVED, VERIFIED or SCHEDULED -> CANCELLED. Refused once the purge is running:
    erasure cannot be half undone.

    A cancelled account deletion leaves the account closed (deactivated, keys revoked);
    reopening it is a separate support step.
    Side effects: updates the request (drops the notice address); a CANCELLED audit event.
    Raises DeletionRequestError when the request is running or finished, or under a
    legal hold (read under the row lock, so a hold set meanwhile is seen: the hold wins).
    """
    request = locked(deletion_request)
    _require(request, (Status.RECEIVED, Status.VERIFIED, Status.SCHEDULED), "cancel")
    if request.held:
        raise DeletionRequestError(
            "cannot cancel a request under a legal hold: the hold must be lifted first"
        )
    request.status = Status.CANCELLED
    request.cancelled_at = timezone.now()
    request.cancelled_by_id = actor_id(acting_user)
    request.notice_email = ""
    request.save(update_fields=["status", "cancelled_at", "cancelled_by_id", "notice_email"])
    audit.record(action=Action.CANCELLED, deletion_request=request, actor_id=actor_id(acting_user))
    return request


@transaction.atomic
def do_delete_stored_prompts(
    *, user: User, acting_user: User, older_than: dt.datetime | None = None
) -> tuple[DeletionRequest, bool]:
    """The signed-in, re-authenticated user asks to delete their stored prompts (all,
    or those older than `older_than`): the request is verified by that session and
    scheduled at once.

    One open prompts request per account: the account row is locked first (as in
    do_request_deletion and do_delete_account), so a double submission waits for the
    first and then finds its request. Returns (the request, whether it is new).
    Side effects: a new request goes through do_request_deletion,
    do_verify_deletion_request and do_schedule_deletion_request (their rows, audit
    events and the purge's enqueueing on commit).
    Raises ForbiddenStep when `acting_user` is someone else and not a superuser.
    """
    require_self_or_superuser(user=user, acting_user=acting_user)
    User.objects.select_for_update().filter(pk=user.pk).first()
    existing = (
        DeletionRequest.objects.filter(
            user_id=user.pk, scope=Scope.PROMPTS, status__in=DeletionRequest.OPEN_STATUSES
        )
        .order_by("-received_at", "-id")
        .first()
    )
    if existing is not None:
        return existing, False
    request = do_request_deletion(
        user=user,
        acting_user=acting_user,
        scope=Scope.PROMPTS,
        origin=DeletionRequest.Origin.USER,
        older_than=older_than,
    )
    request = do_verify_deletion_request(
        deletion_request=request, acting_user=acting_user, verification_method=Method.SIGNED_IN
    )
    request = do_schedule_deletion_request(deletion_request=request, acting_user=acting_user)
    return request, True


def require_self_or_superuser(*, user: User, acting_user: User | None) -> None:
    """Request, verification and schedule in one step: the person themselves (signed in
    and re-authenticated), a superuser or the system (None). Support goes through the
    request's steps instead, where a second person schedules (privacy/README.md, "Support")."""
    if acting_user is None or acting_user.pk == user.pk or acting_user.is_superuser:
        return
    raise ForbiddenStep(
        "support opens a deletion request for the person, and a second member of staff "
        "schedules it: only a superuser deletes someone else's data in one step"
    )
