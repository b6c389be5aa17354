"""Termination with notice: the company ends an account's use of the services
(privacy/termination/README.md)."""

from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from privacy import audit, mail, terms
from privacy.audit import iso
from privacy.deletion.account import delete_account
from privacy.deletion.requests import open_account_deletion
from privacy.errors import ForbiddenStep, TerminationError
from privacy.models import AuditEvent, DeletionRequest, Termination
from privacy.selectors import account_step_refusal, verified_address
from privacy.termination.legal_hold import set_legal_hold

Status = DeletionRequest.Status
Action = AuditEvent.Action
Method = DeletionRequest.VerificationMethod


def terms_citation() -> dict[str, str]:
    """The Terms of Service a termination notice cites: the version in force and the
    link to its Termination section, which says what survives termination."""
    path = reverse("terms_of_service_version", args=[terms.CURRENT.version])
    return {
        "terms_version": terms.CURRENT.version,
        "terms_url": f"{settings.PORTAL_SITE_URL}{path}#termination",
    }


def termination_notice_template(user: User) -> str:
    """The notice text the admin's termination form starts from."""
    return render_to_string(
        "privacy/email/terminated_notice_draft.txt",
        {"purge_days": settings.PORTAL_TERMINATION_PURGE_DAYS},
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
    existing = open_account_deletion(user.pk)
    if existing is not None and existing.status in (Status.SCHEDULED, Status.RUNNING):
        raise TerminationError(
            f"this account is already being deleted ({existing}, {existing.status})"
        )
    now = timezone.now()
    purge_after = now + dt.timedelta(days=settings.PORTAL_TERMINATION_PURGE_DAYS)
    if existing is not None:
        # The person asked first: their request keeps its promised date.
        purge_after = min(purge_after, existing.due_at)
    request = delete_account(
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
    audit.record_termination(
        termination,
        action=Action.TERMINATED,
        actor_id=acting_user.pk,
        detail={"reason_category": reason_category, "purge_after": iso(purge_after)},
    )
    if legal_hold:
        set_legal_hold(termination, acting_user=acting_user, hold=True, reason=legal_hold_reason)
    address = verified_address(user)
    if address:
        transaction.on_commit(
            functools.partial(_mail_termination_notice, termination.pk, address), robust=True
        )
    return termination


def _mail_termination_notice(termination_id: int, address: str) -> None:
    """After commit: send the notice text and record that it went out."""
    termination = Termination.objects.get(pk=termination_id)
    mail.send(
        "terminated",
        {
            "notice_text": termination.notice_text,
            "reference": termination.target,
            **terms_citation(),
        },
        address,
    )
    Termination.objects.filter(pk=termination_id).update(notice_emailed_at=timezone.now())


def termination_notice_for(user: User) -> str | None:
    """The notice of the termination that closed `user`'s account, while it is closed.

    Only for a caller that has already proved to be the person (a correct password at
    sign-in): the notice may say why, which is nobody else's business.
    """
    if user.is_active:
        return None
    termination = Termination.objects.filter(user_id=user.pk).order_by("-terminated_at").first()
    return termination.notice_text if termination is not None else None
