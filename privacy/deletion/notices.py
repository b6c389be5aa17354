"""What the person is told about their deletion request: the completion notice, once,
when the purge completes, and the rejection. The texts are templates
(templates/privacy/email/)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from privacy import audit, mail
from privacy.models import AuditEvent, DeletionRequest

Status = DeletionRequest.Status
Scope = DeletionRequest.Scope
Action = AuditEvent.Action


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
        mail.send(*_completion(request), request.notice_email)
        request.notice_email = ""
        request.save(update_fields=["notice_email"])
        audit.record(action=Action.NOTICE_SENT, deletion_request=request)
    return True


def _completion(request: DeletionRequest) -> tuple[str, dict]:
    """The completion notice's template and its counts, from the receipt."""
    erased = request.receipt.get("erased", {})
    kept_items = request.receipt.get("kept", [])
    context = {
        "deleted": sum(erased.get("deleted", {}).values()),
        "texts": sum(erased.get("text_erased", {}).values()),
        "kept": sum(i["count"] for i in kept_items if i["kind"] == "logging_prefs.generation"),
        "records": sum(i["count"] for i in kept_items if i["kind"] == "privacy.termination"),
        "reference": request.target,
    }
    return ("account_deleted" if request.scope == Scope.ACCOUNT else "prompts_deleted"), context


def send_rejection(request: DeletionRequest, reason: str) -> None:
    """Tell the requester their request was rejected, and why (inside the rejecting
    transaction: a mail that cannot go out rolls the rejection back)."""
    mail.send(
        "deletion_rejected",
        {"account": request.scope == Scope.ACCOUNT, "reason": reason, "reference": request.target},
        request.notice_email,
    )
