"""Once an account's purge completes, nothing the lifecycle keeps leads back to it
(privacy/deletion/README.md, "What is kept, and what it forgets")."""

from __future__ import annotations

from django.db.models import Case, F, Q, Value, When

from privacy import registry
from privacy.deletion.requests import do_cancel_deletion_request
from privacy.models import DeletionRequest

Status = DeletionRequest.Status


def forget_erased_account(user_id: int) -> None:
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
