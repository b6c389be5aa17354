"""State changes of deletion requests and the purge engine. Views, admin, tasks and the
sweeper call these; nothing else writes a DeletionRequest or an AuditEvent.

The lifecycle, who moves a request and what happens on failure: privacy/README.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.utils import timezone

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey, User
from privacy import registry
from privacy.errors import DeletionRequestError, ForbiddenStep, TerminationError
from privacy.models import (
    DELETION_DUE_AFTER,
    AuditEvent,
    DeletionRequest,
    PolicyAcknowledgement,
    Termination,
)
from privacy.policy import policy_version
from privacy.selectors import account_step_refusal, request_step_refusal

logger = logging.getLogger(__name__)

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Action = AuditEvent.Action
Method = DeletionRequest.VerificationMethod

# Rows erased per chunk, each chunk one transaction. A chunk holds row locks (and the
# request row) until it commits: 15,000 generations archived take about an eighth of a
# second (bench/purge.py: median 125-133 ms a task), so ingestion, the activity pages
# and replication never wait long behind a purge, and a crash or a killed worker repeats
# at most one chunk. This is more than "a few thousand rows" because each chunk has a
# fixed cost (the broker round trip, the request row, the audit event, the queries of
# the registry walk, a commit that waits for its WAL to reach the disk): bench/purge.py
# measured the million-row purge at 19.4 s with 5,000-row chunks and 15.8 s with 10,000
# (an older chunk statement); on 2026-11-28, with the chunk deleted by row address,
# 12.7-13.2 s with 10,000, 11.4-11.6 s with 15,000 and 11.4-12.0 s with 20,000, and once
# workers kept their database connection, 9.9-10.7 s with 15,000 against 10.1-10.3 s
# with 20,000 (no clear gain for longer locks). Larger is not faster (40,000 rows:
# slower than 10,000 in a bare loop, their dirty pages no longer fit the buffer cache
# and the backend writes them out itself), and one account with millions of generations
# would hold a long lock and face a long rollback. The chunk size does not change the
# WAL a purge writes (a full-page image of nearly every heap page it touches: 3.5 GB for
# the million rows, like the raw DELETE's).
PURGE_CHUNK_SIZE = 15000

# An archive entry that moved at least this many of the account's rows has its table
# ANALYZEd before the rows it pointed at are deleted (see _analyze_after).
ANALYZE_AFTER_ARCHIVING = PURGE_CHUNK_SIZE

# A chunk takes seconds; a running request whose heartbeat is older than this has lost
# its worker (killed, or its message lost) and the sweeper hands it to a new one.
HEARTBEAT_STALE_AFTER = dt.timedelta(minutes=10)

# A scheduled request is normally claimed within moments of its on_commit message; the
# sweeper re-enqueues only those left waiting longer than this (a broker outage).
SWEEP_GRACE = dt.timedelta(minutes=5)
# The sweeper's work per run; the next run picks up the rest.
SWEEP_BATCH = 500


class ClaimLost(Exception):
    """The message is not the current step of the request's worker chain: another
    worker reclaimed it, or this chunk was already done (a redelivered message)."""


@dataclass(frozen=True)
class Claim:
    """Which worker chain holds a running request, and which chunk it is on."""

    token: str
    chunk: int


def _actor_id(acting_user: User | None) -> int | None:
    return acting_user.pk if acting_user is not None else None


def _audit(
    *,
    action: str,
    deletion_request: DeletionRequest,
    actor_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        target=deletion_request.target,
        deletion_request=deletion_request,
        detail=detail or {},
    )


def _enqueue_purge(request_id: int) -> None:
    """Start the purge once the transaction commits.

    robust: a broker outage must not turn a committed request into an error page; the
    request stays SCHEDULED and the sweeper enqueues it again.
    """
    from privacy import tasks

    transaction.on_commit(functools.partial(tasks.enqueue_purge, request_id), robust=True)


def _locked(deletion_request: DeletionRequest) -> DeletionRequest:
    return DeletionRequest.objects.select_for_update().get(pk=deletion_request.pk)


def _require(request: DeletionRequest, allowed: tuple[str, ...], verb: str) -> None:
    if request.status not in allowed:
        raise DeletionRequestError(f"cannot {verb} a request that is {request.status}")


# --- Requests ----------------------------------------------------------------------


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
        existing = _open_account_deletion(user.pk)
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
        received_by_id=_actor_id(acting_user),
        due_at=now + DELETION_DUE_AFTER,
        # Only an address the account verified: User.email may be one it never proved.
        notice_email=_verified_address(user) if notice_email is None else notice_email,
    )
    _audit(
        action=Action.REQUESTED,
        deletion_request=request,
        actor_id=_actor_id(acting_user),
        detail={"scope": scope, "origin": origin, "older_than": _iso(older_than)},
    )
    return request


def _open_account_deletion(user_id: int) -> DeletionRequest | None:
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
    acting_id = _actor_id(acting_user)
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
    request = _locked(deletion_request)
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
    _audit(
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

    For the whole account, the account is closed in this same transaction (see
    `_close_account`).
    Side effects: updates the request; may deactivate the account, end its sessions and
    revoke its keys; audit events; after commit, enqueues the purge task.
    Raises DeletionRequestError for a request not VERIFIED; ForbiddenStep for support
    scheduling a request about a staff or superuser account, or one they opened and
    verified themselves (four eyes: someone else schedules it).
    """
    request = _locked(deletion_request)
    _require(request, (Status.VERIFIED,), "schedule")
    refusal = request_step_refusal(
        acting_user=acting_user, deletion_request=request, step="schedule"
    )
    if refusal:
        raise ForbiddenStep(refusal)
    return _schedule(request, acting_user=acting_user, purge_after=purge_after)


def _schedule(
    deletion_request: DeletionRequest,
    *,
    acting_user: User | None,
    purge_after: dt.datetime | None,
    keep_password: bool = False,
) -> DeletionRequest:
    """do_schedule_deletion_request's work, inside the caller's transaction."""
    request = _locked(deletion_request)
    _require(request, (Status.VERIFIED,), "schedule")
    now = timezone.now()
    if request.scope == Scope.ACCOUNT:
        user = User.objects.select_for_update().filter(pk=request.user_id).first()
        if user is not None:
            _close_account(
                user=user, request=request, acting_user=acting_user, keep_password=keep_password
            )
    request.status = Status.SCHEDULED
    request.scheduled_at = now
    request.scheduled_by_id = _actor_id(acting_user)
    request.purge_after = purge_after
    request.save(update_fields=["status", "scheduled_at", "scheduled_by_id", "purge_after"])
    _audit(
        action=Action.SCHEDULED,
        deletion_request=request,
        actor_id=_actor_id(acting_user),
        detail={"purge_after": _iso(purge_after)},
    )
    if purge_after is None or purge_after <= now:
        _enqueue_purge(request.pk)
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
    request = _locked(deletion_request)
    _require(request, (Status.RECEIVED, Status.VERIFIED), "reject")
    told = bool(request.notice_email)
    if told:
        subject, body = _rejection_notice(request, reason)
        send_mail(subject, body, None, [request.notice_email])
    request.status = Status.REJECTED
    request.rejected_at = timezone.now()
    request.rejected_by_id = _actor_id(acting_user)
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
    _audit(
        action=Action.REJECTED,
        deletion_request=request,
        actor_id=_actor_id(acting_user),
        detail={"told": told},
    )
    return request


def _rejection_notice(request: DeletionRequest, reason: str) -> tuple[str, str]:
    what = (
        "your account and its data"
        if request.scope == Scope.ACCOUNT
        else "your stored prompts and completions"
    )
    lines = [
        f"We could not carry out your request to delete {what}.",
        "",
        f"Reason: {reason}",
        "",
        "Nothing has been deleted. You can make a new request at any time from your "
        "account's settings, or reply to this message if you think this is a mistake.",
        "",
        f"Reference: {request.target}",
    ]
    return "[Portal] Your deletion request could not be carried out", "\n".join(lines) + "\n"


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
    request = _locked(deletion_request)
    _require(request, (Status.RECEIVED, Status.VERIFIED, Status.SCHEDULED), "cancel")
    if request.held:
        raise DeletionRequestError(
            "cannot cancel a request under a legal hold: the hold must be lifted first"
        )
    request.status = Status.CANCELLED
    request.cancelled_at = timezone.now()
    request.cancelled_by_id = _actor_id(acting_user)
    request.notice_email = ""
    request.save(update_fields=["status", "cancelled_at", "cancelled_by_id", "notice_email"])
    _audit(action=Action.CANCELLED, deletion_request=request, actor_id=_actor_id(acting_user))
    return request


# --- Account deletion ------------------------------------------------------------


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
    _require_self_or_superuser(user=user, acting_user=acting_user)
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
    _require_self_or_superuser(user=user, acting_user=acting_user)
    return _delete_account(user=user, acting_user=acting_user, origin=origin)


def _require_self_or_superuser(*, user: User, acting_user: User | None) -> None:
    """Request, verification and schedule in one step: the person themselves (signed in
    and re-authenticated), a superuser or the system (None). Support goes through the
    request's steps instead, where a second person schedules (privacy/README.md)."""
    if acting_user is None or acting_user.pk == user.pk or acting_user.is_superuser:
        return
    raise ForbiddenStep(
        "support opens a deletion request for the person, and a second member of staff "
        "schedules it: only a superuser deletes someone else's data in one step"
    )


def _delete_account(
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
    request = _open_account_deletion(user.pk)
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
        request = _schedule(
            request,
            acting_user=acting_user,
            purge_after=purge_after,
            keep_password=keep_password,
        )
    return request


def _close_account(
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
    sessions_ended = _end_sessions(user.pk)
    keys_revoked = 0
    for api_key in ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by():
        keys_revoked += do_revoke_api_key(api_key=api_key, acting_user=acting_user)
    _audit(
        action=Action.ACCOUNT_CLOSED,
        deletion_request=request,
        actor_id=_actor_id(acting_user),
        detail={"sessions_ended": sessions_ended, "keys_revoked": keys_revoked},
    )


# --- Termination, legal hold, under-13 ----------------------------------------------


def termination_notice_template(user: User) -> str:
    """The notice text the admin's termination form starts from."""
    return (
        "Hello,\n\n"
        "We have terminated your use of the Portal's services, effective immediately, "
        "under the Termination section of our Privacy Policy and our Terms of Service.\n\n"
        "Reason: [describe the breach or other reason in words the person understands]\n\n"
        "Your API keys no longer work and you can no longer sign in. Your account and "
        f"its personal data will be deleted after {settings.PORTAL_TERMINATION_PURGE_DAYS} "
        "days; billing records are kept anonymised.\n\n"
        "If you believe this is a mistake, reply to this message within that time.\n"
    )


@transaction.atomic
def do_terminate_account(
    *,
    user: User,
    acting_user: User,
    reason_category: str,
    reason: str,
    notice_text: str,
    legal_hold: bool = False,
    legal_hold_reason: str = "",
) -> Termination:
    """End `user`'s use of the services, with notice: the account is closed at once and
    deleted after PORTAL_TERMINATION_PURGE_DAYS, unless a legal hold stops the purge.

    In one transaction: the account is deactivated (its password hash kept, so the
    person can read the notice at sign-in), every session ends and every key is revoked
    (the same closing step as account deletion), an account deletion with origin
    TERMINATION is recorded and scheduled for `purge_after` (the sweeper starts it
    then), and the Termination is recorded. An account deletion the person had asked
    for and that is not yet scheduled is taken over (and purged no later than its due
    date). After commit the notice text is mailed to the account's verified address,
    if it has one.
    Side effects: as above; ACCOUNT_CLOSED, SCHEDULED, TERMINATED (and LEGAL_HOLD_SET)
    audit events.
    Raises TerminationError when the account is already being deleted or is the acting
    user's own; ForbiddenStep when support terminates a staff or superuser account;
    ValueError for an unknown category or empty text.
    """
    if reason_category not in Termination.ReasonCategory.values:
        raise ValueError(f"unknown reason category: {reason_category}")
    reason, notice_text = reason.strip(), notice_text.strip()
    legal_hold_reason = legal_hold_reason.strip()
    if not reason:
        raise ValueError("a termination needs a reason")
    if not notice_text:
        raise ValueError("a termination needs the notice the person is given")
    if legal_hold and not legal_hold_reason:
        raise ValueError("a legal hold needs a reason")
    if user.pk == acting_user.pk:
        raise TerminationError("you cannot terminate your own account")
    user = User.objects.select_for_update().get(pk=user.pk)
    refusal = account_step_refusal(acting_user=acting_user, user=user, step="terminate")
    if refusal:
        raise ForbiddenStep(refusal)
    existing = _open_account_deletion(user.pk)
    if existing is not None and existing.status in (Status.SCHEDULED, Status.RUNNING):
        raise TerminationError(
            f"this account is already being deleted ({existing}, {existing.status})"
        )
    now = timezone.now()
    purge_after = now + dt.timedelta(days=settings.PORTAL_TERMINATION_PURGE_DAYS)
    if existing is not None:
        # The person asked first: their request keeps its promised date.
        purge_after = min(purge_after, existing.due_at)
    request = _delete_account(
        user=user,
        acting_user=acting_user,
        origin=DeletionRequest.Origin.TERMINATION,
        verification_method=Method.COMPANY_DECISION,
        purge_after=purge_after,
        keep_password=True,
    )
    termination = Termination.objects.create(
        user_id=user.pk,
        reason_category=reason_category,
        reason=reason,
        notice_text=notice_text,
        terminated_by_id=acting_user.pk,
        terminated_at=now,
        purge_after=purge_after,
        deletion_request=request,
    )
    _audit_termination(
        termination,
        action=Action.TERMINATED,
        actor_id=acting_user.pk,
        detail={"reason_category": reason_category, "purge_after": _iso(purge_after)},
    )
    if legal_hold:
        _set_legal_hold(termination, acting_user=acting_user, hold=True, reason=legal_hold_reason)
    address = _verified_address(user)
    if address:
        transaction.on_commit(
            functools.partial(_mail_termination_notice, termination.pk, address), robust=True
        )
    return termination


def _verified_address(user: User) -> str:
    """The account's address if it is a verified one (a wallet-only account has none
    worth writing to); the in-app notice covers the rest."""
    return (
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "pk")
        .values_list("email", flat=True)
        .first()
        or ""
    )


def _mail_termination_notice(termination_id: int, address: str) -> None:
    """After commit: send the notice text and record that it went out."""
    termination = Termination.objects.get(pk=termination_id)
    send_mail(
        "[Portal] Your use of the services has been terminated",
        termination.notice_text + f"\n\nReference: {termination.target}\n",
        None,
        [address],
    )
    Termination.objects.filter(pk=termination_id).update(notice_emailed_at=timezone.now())


def _audit_termination(
    termination: Termination, *, action: str, actor_id: int | None, detail: dict
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        target=termination.target,
        deletion_request=termination.deletion_request,
        detail=detail,
    )


def termination_notice_for(user: User) -> str | None:
    """The notice of the termination that closed `user`'s account, while it is closed.

    Only for a caller that has already proved to be the person (a correct password at
    sign-in): the notice may say why, which is nobody else's business.
    """
    if user.is_active:
        return None
    termination = Termination.objects.filter(user_id=user.pk).order_by("-terminated_at").first()
    return termination.notice_text if termination is not None else None


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
    _set_legal_hold(termination, acting_user=acting_user, hold=hold, reason=reason)
    return termination


def _set_legal_hold(
    termination: Termination, *, acting_user: User, hold: bool, reason: str
) -> None:
    request = _locked(termination.deletion_request)
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
    _audit_termination(
        termination,
        action=Action.LEGAL_HOLD_SET if hold else Action.LEGAL_HOLD_LIFTED,
        actor_id=acting_user.pk,
        detail={},
    )
    if not hold and (request.purge_after is None or request.purge_after <= now):
        _enqueue_purge(request.pk)


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
    return _delete_account(
        user=user,
        acting_user=acting_user,
        origin=DeletionRequest.Origin.UNDER_13,
        verification_method=Method.COMPANY_DECISION,
        verification_note=note,
    )


@transaction.atomic
def do_erase_unconfirmed_account(*, user: User) -> DeletionRequest:
    """Close and erase an account nobody can enter: it signed up with an address it
    never confirmed, and lost that address (its owner confirmed it on another account,
    or its confirmation expired; accounts.actions). The system acts: no person does.

    Side effects: as do_delete_account (deactivated, sessions ended, keys revoked, an
    account deletion with origin UNCONFIRMED scheduled now, the purge after commit);
    no notice is mailed, since the account has no verified address.
    """
    return _delete_account(
        user=user,
        acting_user=None,
        origin=DeletionRequest.Origin.UNCONFIRMED,
        verification_method=Method.COMPANY_DECISION,
    )


def _end_sessions(user_id: int) -> int:
    """End every session of the account: the session store (database and cache) and
    allauth's UserSession rows."""
    ended = 0
    for user_session in UserSession.objects.filter(user_id=user_id).order_by():
        user_session.end()
        ended += 1
    return ended


# --- The data download -----------------------------------------------------------


def do_record_data_download(*, user: User) -> AuditEvent:
    """Record that the person downloaded their data (privacy/export.py): who, when, and
    the account as an opaque id, so support can answer "who took a copy, and when".
    Side effects: a DATA_DOWNLOADED audit event."""
    return AuditEvent.objects.create(
        action=Action.DATA_DOWNLOADED,
        actor_id=user.pk,
        target=f"account:{user.pk}",
        detail={},
    )


# --- The purge -------------------------------------------------------------------


def do_claim_deletion_request(*, request_id: int) -> Claim | None:
    """Take a request for this worker chain: SCHEDULED (and due) -> RUNNING, or a
    RUNNING request whose heartbeat is stale (its worker died) -> RUNNING under a new
    claim. One conditional UPDATE, so of two workers racing only one wins.

    Returns the claim, or None when the request is not there to take (another worker
    holds it, it finished, was cancelled, is not due yet, or is under a legal hold).
    Side effects: updates the request; a STARTED or RECLAIMED audit event.
    """
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        claimed = (
            DeletionRequest.objects.filter(pk=request_id)
            .filter(
                Q(status=Status.SCHEDULED, held=False)
                & (Q(purge_after__isnull=True) | Q(purge_after__lte=now))
                | Q(status=Status.RUNNING)
                & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_STALE_AFTER))
            )
            .update(
                status=Status.RUNNING,
                claim_token=token,
                claimed_at=now,
                heartbeat_at=now,
                started_at=Coalesce("started_at", models.Value(now)),
            )
        )
        if not claimed:
            return None
        request = DeletionRequest.objects.get(pk=request_id)
        reclaimed = request.started_at != now
        _audit(
            action=Action.RECLAIMED if reclaimed else Action.STARTED,
            deletion_request=request,
            detail={"chunks_done": request.chunks_done},
        )
    return Claim(token=str(token), chunk=request.chunks_done)


def do_purge_chunk(*, request_id: int, claim: Claim | None = None) -> bool:
    """Erase the next chunk of a RUNNING request and return whether rows remain.

    One short transaction: the request row is locked, up to PURGE_CHUNK_SIZE rows are
    erased walking the registry in its fixed order, the progress counts and heartbeat
    are written, and when nothing remains the request is completed with its receipt.
    Running it again after a crash erases nothing twice: erased rows no longer match.
    With `claim`, only the chain holding the request may run, and only its next chunk.
    Side effects: deletes, archives or anonymises registered rows; updates the request; CHUNK
    (and at the end COMPLETED) audit events. Raises ClaimLost for a stale claim.
    """
    with transaction.atomic():
        request = DeletionRequest.objects.select_for_update().get(pk=request_id)
        if request.status == Status.COMPLETED and claim is None:
            return False
        if request.status != Status.RUNNING:
            raise ClaimLost(f"request {request_id} is {request.status}")
        if claim is not None and (
            str(request.claim_token) != claim.token or request.chunks_done != claim.chunk
        ):
            raise ClaimLost(f"request {request_id} is held by another claim or chunk")

        progress = _Progress(request.progress)
        budget = PURGE_CHUNK_SIZE
        has_more = False
        for entry in registry.entries():
            if request.scope == Scope.PROMPTS and entry.stored_text is None:
                continue
            if budget == 0:
                has_more = True
                break
            try:
                # A savepoint, so a refused delete leaves the chunk's other work intact.
                with transaction.atomic():
                    erased = _erase(entry, request, budget, progress)
                exhausted = erased < budget
                budget -= erased
                if exhausted and entry.how == "archive":
                    # This entry has no rows left: refresh its table's statistics
                    # before the rows it pointed at are deleted (see _analyze_after).
                    _analyze_after(entry, progress)
            except models.ProtectedError:
                # Rows were linked to the account after this chunk found none (a late
                # ingestion batch): the next chunk archives them first.
                has_more = True
                break
        if budget == 0:
            has_more = True

        now = timezone.now()
        request.chunks_done += 1
        request.heartbeat_at = now
        request.progress = progress.as_dict()
        _audit(
            action=Action.CHUNK,
            deletion_request=request,
            detail={"chunk": request.chunks_done, "rows": PURGE_CHUNK_SIZE - budget},
        )
        if not has_more:
            _complete(request, now)
        request.save()
        if not has_more and (
            request.scope == Scope.ACCOUNT or not User.objects.filter(pk=request.user_id).exists()
        ):
            _forget_erased_account(request.user_id)
    return has_more


class _Progress:
    KEYS = ("deleted", "anonymised", "archived", "text_erased")

    def __init__(self, data: dict) -> None:
        self.counts = {key: Counter(data.get(key, {})) for key in self.KEYS}

    def add(self, key: str, kind: str, count: int) -> None:
        if count:
            self.counts[key][kind] += count

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {key: dict(sorted(self.counts[key].items())) for key in self.KEYS}


def _erase(
    entry: registry.PersonalData, request: DeletionRequest, budget: int, progress: _Progress
) -> int:
    """Erase up to `budget` of the entry's remaining rows; return how many."""
    queryset = entry.queryset(request.user_id).order_by()
    model = entry.model
    if request.scope == Scope.PROMPTS:
        stored = entry.stored_text
        queryset = queryset.filter(stored.remaining)
        if request.older_than is not None:
            queryset = queryset.filter(**{f"{stored.dated_by}__lt": request.older_than})
        pks = list(queryset.values_list("pk", flat=True)[:budget])
        if pks:
            model._base_manager.filter(pk__in=pks).update(**stored.erase)
            progress.add("text_erased", entry.kind, len(pks))
        return len(pks)

    # The account's rows in the entry's chunk order (an index's order: see registry).
    queryset = queryset.order_by(*entry.chunk_order)
    if entry.how == "archive":
        chosen, archived, had_text = _archive_postgresql(entry, queryset, budget)
        progress.add("text_erased", entry.kind, had_text)
        progress.add("archived", entry.kind, archived)
        # The rows chosen count against the budget: a chunk that skipped one (see
        # _archive_postgresql) is not mistaken for the entry's last.
        return chosen
    if entry.how == "anonymise":
        if entry.stored_text is None:
            chunk = queryset.annotate(_has_text=Value(False))
        else:
            # The chunk's rows and which of them still hold text, for the receipt, found
            # by the same scan; a second COUNT over the chunk's ids cost an eighth of a chunk.
            chunk = queryset.annotate(
                _has_text=Case(
                    When(entry.stored_text.remaining, then=Value(True)),
                    default=Value(False),
                    output_field=models.BooleanField(),
                )
            )
        found = list(chunk.values_list("pk", "_has_text")[:budget])
        progress.add("text_erased", entry.kind, sum(has_text for _, has_text in found))
        if not found:
            return 0
        rows = model._base_manager.filter(pk__in=[pk for pk, _ in found])
        progress.add("anonymised", entry.kind, rows.update(**entry.anonymise))
        return len(found)

    pks = list(queryset.values_list("pk", flat=True)[:budget])
    if not pks:
        return 0
    rows = model._base_manager.filter(pk__in=pks)
    _forget_admin_history(model, pks)
    _, per_model = rows.delete()
    for label, count in per_model.items():
        progress.add("deleted", label.lower(), count)
    return len(pks)


def _analyze_after(entry: registry.PersonalData, progress: _Progress) -> None:
    """ANALYZE the table of an archive entry this purge has just emptied of the account's
    rows, when it moved at least ANALYZE_AFTER_ARCHIVING of them.

    The next entries delete the rows the archived ones pointed at, and a delete with a
    PROTECT link and a foreign key (the account row; API keys have neither, see
    Generation.api_key) looks the archived table up by the deleted id twice: Django's
    check and PostgreSQL's. The planner's statistics still say what they said before
    the purge (the account owns, say, a third of the table; autovacuum's ANALYZE comes
    minutes later, or never during a purge of seconds), so each lookup chose a
    sequential scan of the whole table: seconds of a million-row purge (bench/purge.py).
    With fresh statistics they are index scans. ANALYZE samples a fixed number of pages
    (about 0.2-0.3 s on the benchmark's 4 GB table) and takes a lock that conflicts only
    with VACUUM, ANALYZE and schema changes, not with reads or writes. A role that does
    not own the table gets a warning and no statistics: slower, never wrong.
    """
    if progress.counts["archived"][entry.kind] < ANALYZE_AFTER_ARCHIVING:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(entry.model._meta.db_table)}")  # noqa: S608


def _archive_postgresql(
    entry: registry.PersonalData, queryset: models.QuerySet, budget: int
) -> tuple[int, int, int]:
    """PostgreSQL: move up to `budget` rows of `queryset` (the account's rows in chunk
    order) into the totals of `entry.archive` and delete them, in one statement.
    Returns (rows chosen, rows moved, how many of the moved held text).

    The statement: the chunk's row addresses (ctid) and ids by the chunk order's index,
    the admin history's names forgotten, the DELETE of those addresses (a TID scan: each
    row fetched once, where a join on ids looked every row up again in the primary key
    index: 81-86 ms a chunk against 92 in a bare loop over bench/purge.py's data), and
    the totals of the DELETE's RETURNING added with INSERT ... ON CONFLICT DO UPDATE
    (no ids through Python; the totals' rows are locked in one order, so two purges
    adding into the same day never deadlock). Whether a row held text is read from the
    deleted row itself. A row updated by another transaction since the chunk was chosen
    (the categoriser marking it, the nightly expiry erasing its text) has a new address:
    this DELETE skips it (chosen, not moved) and the next chunk takes it. In the chunk's
    transaction: a retried chunk finds the rows gone and adds nothing twice.
    """
    archive = entry.archive
    quote = connection.ops.quote_name
    source, target = entry.model._meta, archive.into._meta
    table = quote(source.db_table)

    def source_column(name: str) -> str:
        return quote(source.get_field(name).column)

    def target_column(name: str) -> str:
        return quote(target.get_field(name).column)

    into = quote(target.db_table)
    day_to, day_from = archive.day
    # (target column, expression over `moved`), grouped by, in the constraint's order.
    groups = [(target_column(day_to), f"(({source_column(day_from)}) AT TIME ZONE 'UTC')::date")]
    groups += [(target_column(to), source_column(frm)) for to, frm in archive.keys.items()]
    sums = [(target_column(to), source_column(frm)) for to, frm in archive.sums.items()]
    count = target_column(archive.count)
    returned = {source_column(day_from)} | {column for _, column in groups[1:] + sums}
    returning = ", ".join(f"{table}.{column}" for column in sorted(returned))
    columns = ", ".join([column for column, _ in groups] + [count] + [c for c, _ in sums])
    values = ", ".join(
        [expression for _, expression in groups]
        + ["count(*)"]
        + [f"sum({expression})" for _, expression in sums]
    )
    positions = ", ".join(str(n) for n in range(1, len(groups) + 1))
    conflict = ", ".join(column for column, _ in groups)
    added = ", ".join(
        f"{column} = {into}.{column} + EXCLUDED.{column}"
        for column in [count] + [c for c, _ in sums]
    )

    chunk = queryset.annotate(
        # The row address; a quoted constant name, no value.
        _row=RawSQL(f"{table}.ctid", (), output_field=models.TextField())  # noqa: S611
    ).values_list("pk", "_row")[:budget]
    select, params = chunk.query.sql_with_params()
    has_text, has_text_params = "false", ()
    if entry.stored_text is not None:
        # The stored-text condition over the deleted row's own columns.
        query = Query(entry.model)
        has_text, has_text_params = query.build_where(entry.stored_text.remaining).as_sql(
            query.get_compiler(connection=connection), connection
        )
    content_type = ContentType.objects.get_for_model(entry.model, for_concrete_model=False)
    forgotten, forgotten_params = "", ()
    if _has_admin_history(content_type):
        # _forget_admin_history's UPDATE, on the chunk's ids, inside the statement.
        log = LogEntry._meta
        log_table = quote(log.db_table)
        ct_column = quote(log.get_field("content_type").column)
        id_column = quote(log.get_field("object_id").column)
        repr_column = quote(log.get_field("object_repr").column)
        message_column = quote(log.get_field("change_message").column)
        forgotten = f"""
        forgotten AS (
            UPDATE {log_table} SET {repr_column} = '', {message_column} = ''
            WHERE {ct_column} = %s AND {id_column} IN (SELECT pk::text FROM chunk)
              AND NOT ({repr_column} = '' AND {message_column} = '')
        ),"""  # noqa: S608 (quoted names)
        forgotten_params = (content_type.pk,)
    sql = f"""
        WITH chunk (pk, row) AS ({select}),{forgotten}
        moved AS (
            DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT row FROM chunk))
            RETURNING {returning}, ({has_text}) AS has_text
        ),
        added AS (
            INSERT INTO {into} ({columns})
            SELECT {values} FROM moved GROUP BY {positions} ORDER BY {positions}
            ON CONFLICT ({conflict}) DO UPDATE SET {added}
        )
        SELECT (SELECT count(*) FROM chunk), count(*), count(*) FILTER (WHERE has_text)
        FROM moved
    """  # noqa: S608 (quoted names and the queryset's own SQL)
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *forgotten_params, *has_text_params))
        chosen, moved, had_text = cursor.fetchone()
    return chosen, moved, had_text


def _admin_history_naming(content_type: ContentType) -> models.QuerySet:
    """The admin history entries about objects of this type that still name them."""
    return LogEntry.objects.filter(content_type=content_type).exclude(
        object_repr="", change_message=""
    )


def _has_admin_history(content_type: ContentType) -> bool:
    """Whether the admin history names any object of this type (an index probe).

    Archived models are high-volume rows staff do not edit in the admin, so this is
    nearly always false and the chunk's statement leaves the history out: the extra
    UPDATE made PostgreSQL materialise the chunk's selection for two readers, 4-6 ms of
    a chunk of about 90 ms when the statement alone was run in a loop over the data of
    bench/purge.py (within that benchmark's run-to-run noise). An entry written after
    this probe and before the chunk commits is not seen, as it would not be by the
    UPDATE either.
    """
    return _admin_history_naming(content_type).exists()


def _forget_admin_history(model: type[models.Model], pks: list) -> None:
    """Admin history about an erased object keeps who on staff did what and when, and
    loses the object's name: for a user or an email address that name is the address."""
    if model._meta.auto_created or model is LogEntry:
        return
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    _admin_history_naming(content_type).filter(object_id__in=[str(pk) for pk in pks]).update(
        object_repr="", change_message=""
    )


def _complete(request: DeletionRequest, now: dt.datetime) -> None:
    """RUNNING -> COMPLETED, with the receipt (called inside the last chunk)."""
    progress = request.progress
    by_kind = {entry.kind: entry for entry in registry.entries()}

    def kept(how: str, counts: dict[str, int]) -> list[dict]:
        items = []
        for kind, count in counts.items():
            entry = by_kind.get(kind)
            item = {"kind": kind, "count": count, "how": how}
            if how == "archived" and entry is not None:
                item["into"] = entry.archive.into._meta.label_lower
            items.append({**item, "reason": entry.reason if entry is not None else ""})
        return items

    request.status = Status.COMPLETED
    request.completed_at = now
    request.receipt = {
        "scope": request.scope,
        "older_than": _iso(request.older_than),
        "erased": {
            "deleted": progress.get("deleted", {}),
            "text_erased": progress.get("text_erased", {}),
        },
        # Archived: the rows are gone, their billing totals added into an anonymous
        # ledger; anonymised: the rows are kept, cut from the person.
        "kept": kept("archived", progress.get("archived", {}))
        + kept("anonymised", progress.get("anonymised", {})),
        "completed_at": _iso(now),
    }
    _audit(
        action=Action.COMPLETED,
        deletion_request=request,
        detail={"chunks": request.chunks_done, **request.receipt["erased"]},
    )


def _forget_erased_account(user_id: int) -> None:
    """Once an account's purge has completed (inside its last chunk), nothing kept may
    lead back to it: its other open requests are cancelled (nothing is left to erase;
    one still running forgets the account when it completes), the rows the kept records
    hold about it lose its id and the free text about the person, and every plain id
    field of a kept row that holds its id (the person acting on their own request, or a
    staff member whose own account this was) becomes NULL (privacy/registry.py,
    register_record; `people` of anonymised entries).
    Side effects: CANCELLED audit events; updates DeletionRequest, Termination and
    AuditEvent rows (the audit trigger allows only this forgetting, and only once the
    account row is gone).
    """
    waiting = DeletionRequest.objects.filter(
        user_id=user_id, status__in=(Status.RECEIVED, Status.VERIFIED, Status.SCHEDULED)
    ).order_by("pk")
    for other in waiting:
        do_cancel_deletion_request(deletion_request=other, acting_user=None)
    for record in registry.records():
        if record.about is not None and record.clear:
            record.about(user_id).update(**record.clear)
    for holder in [*registry.records(), *registry.entries()]:
        if not holder.people:
            continue
        # One statement per model, each field NULL only where it holds the erased id: a
        # scan of the requests and terminations (a row per request), the audit_actor
        # index for the trail.
        holds = Q()
        for name in holder.people:
            holds |= Q(**{name: user_id})
        holder.model._base_manager.filter(holds).update(
            **{
                name: Case(When(**{name: user_id}, then=Value(None)), default=F(name))
                for name in holder.people
            }
        )


def do_send_deletion_notice(*, request_id: int) -> bool:
    """Send the completion notice of a COMPLETED request, exactly once.

    A conditional UPDATE on notice_sent_at IS NULL claims the notice (a concurrent
    sender waits on the row and then finds it claimed); the mail is sent inside that
    transaction, so a failed send rolls the claim back for the sweeper to retry; the
    address is cleared in the same commit that records the notice as sent.
    Returns whether this call sent it.
    Side effects: sends one mail; updates the request; a NOTICE_SENT audit event.
    """
    with transaction.atomic():
        claimed = (
            DeletionRequest.objects.filter(
                pk=request_id, status=Status.COMPLETED, notice_sent_at__isnull=True
            )
            .exclude(notice_email="")
            .update(notice_sent_at=timezone.now())
        )
        if not claimed:
            return False
        request = DeletionRequest.objects.get(pk=request_id)
        subject, body = _notice(request)
        send_mail(subject, body, None, [request.notice_email])
        request.notice_email = ""
        request.save(update_fields=["notice_email"])
        _audit(action=Action.NOTICE_SENT, deletion_request=request)
    return True


def _notice(request: DeletionRequest) -> tuple[str, str]:
    erased = request.receipt.get("erased", {})
    deleted = sum(erased.get("deleted", {}).values())
    texts = sum(erased.get("text_erased", {}).values())
    kept_items = request.receipt.get("kept", [])
    kept = sum(i["count"] for i in kept_items if i["kind"] == "logging_prefs.generation")
    records = sum(i["count"] for i in kept_items if i["kind"] == "privacy.termination")
    if request.scope == Scope.ACCOUNT:
        subject = "[Portal] Your account has been deleted"
        lines = [
            "Your account and the personal data held about you have been deleted.",
            "",
            f"Records deleted: {deleted}",
            f"Stored prompts and completions erased: {texts}",
            "Requests kept only as billing totals (per day, model and provider, in the "
            f"anonymous billing ledger; no account, key, app or text): {kept}",
        ]
        if records:
            lines.append(
                "The record that we terminated the account is kept, anonymised (no "
                f"account, reason or notice text): {records}"
            )
        lines += [
            "",
            "You are welcome to sign up again with this address at any time; it would "
            "be a new account.",
        ]
    else:
        subject = "[Portal] Your stored prompts and completions have been deleted"
        lines = [
            "The stored prompts and completions you asked us to delete have been erased.",
            "",
            f"Generations whose text was erased: {texts}",
            "Their billing metadata (model, provider, tokens, cost, time) is kept.",
        ]
    lines += ["", f"Reference: {request.target}"]
    return subject, "\n".join(lines) + "\n"


# --- The sweeper -----------------------------------------------------------------


@dataclass
class SweepResult:
    scheduled: list[int]
    reclaimed: list[int]
    notices: list[int]


def do_sweep_deletion_requests(*, now: dt.datetime | None = None) -> SweepResult:
    """Re-enqueue what is due but not moving (run by beat).

    - SCHEDULED, due and not under a legal hold, waiting longer than SWEEP_GRACE (a
      termination's grace period ends here, too): its message was lost (broker
      outage at commit) or is stuck behind others; a duplicate is harmless, the claim
      is a conditional UPDATE.
    - RUNNING with a heartbeat older than HEARTBEAT_STALE_AFTER: its worker died; the
      task reclaims it under a new claim and the old chain's messages are dropped.
    - COMPLETED with the notice not sent (the send failed): send it.
    Side effects: publishes tasks; a SWEPT audit event per purge re-enqueued.
    """
    from privacy import tasks

    now = now or timezone.now()
    scheduled = list(
        DeletionRequest.objects.filter(
            Q(purge_after__isnull=True) | Q(purge_after__lte=now),
            status=Status.SCHEDULED,
            # A legal hold stops the purge until it is lifted (do_set_legal_hold).
            held=False,
            scheduled_at__lte=now - SWEEP_GRACE,
        )
        .order_by("scheduled_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    reclaimed = list(
        DeletionRequest.objects.filter(
            Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_STALE_AFTER),
            status=Status.RUNNING,
        )
        .order_by("heartbeat_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    notices = list(
        DeletionRequest.objects.filter(status=Status.COMPLETED, notice_sent_at__isnull=True)
        .exclude(notice_email="")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for reason, ids in (("scheduled", scheduled), ("stale_heartbeat", reclaimed)):
        for request_id in ids:
            _audit(
                action=Action.SWEPT,
                deletion_request=DeletionRequest(pk=request_id),
                detail={"reason": reason},
            )
            _publish(tasks.enqueue_purge, request_id)
    for request_id in notices:
        _publish(tasks.enqueue_notice, request_id)
    return SweepResult(scheduled=scheduled, reclaimed=reclaimed, notices=notices)


def _publish(enqueue, request_id: int) -> None:
    # One unreachable broker must not stop the sweep of the rest; the next run retries.
    try:
        enqueue(request_id)
    except Exception:
        logger.exception("could not enqueue deletion request %s", request_id)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class UnknownPolicyVersion(Exception):
    """No such version of the privacy policy was ever published."""


def do_acknowledge_policy(*, user: User, version: str, how: str) -> PolicyAcknowledgement:
    """Record that `user` acknowledged the privacy policy `version` (privacy/policy.py),
    `how` being PolicyAcknowledgement.How. Acknowledging a version again changes
    nothing; acknowledging an older one never lowers the newest acknowledged.

    Raises UnknownPolicyVersion for a version never published (nothing is written).
    Side effects: inserts one PolicyAcknowledgement; sets user.policy_acknowledged.
    """
    if policy_version(version) is None:
        raise UnknownPolicyVersion(version)
    with transaction.atomic():
        acknowledgement, _ = PolicyAcknowledgement.objects.get_or_create(
            user=user, version=version, defaults={"how": how}
        )
        User.objects.filter(pk=user.pk, policy_acknowledged__lt=version).update(
            policy_acknowledged=version
        )
    if (user.policy_acknowledged or "") < version:
        user.policy_acknowledged = version
    return acknowledgement
