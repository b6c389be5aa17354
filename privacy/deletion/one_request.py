"""Deleting the text of one request, from its page under /account/activity/.

A request for a single generation's text is too small for the lifecycle's steps (a
worker, chunks, a sweeper): it is erased at once, in one transaction with its record.
The record is an ordinary DeletionRequest of the prompts scope, received, verified
(the person signed in, acting on their own request), scheduled and completed in that
same moment, with its receipt, so it is listed on /account/data/ with the others and
forgotten like them when the account is erased. Its receipt names the generation by
its portal id (`generation`): no content, no time, no address.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from logging_prefs.models import Generation
from privacy import audit, registry
from privacy.audit import iso
from privacy.models import AuditEvent, DeletionRequest

Status = DeletionRequest.Status
Action = AuditEvent.Action


def _generation_kind() -> str:
    return Generation._meta.label_lower


@transaction.atomic
def do_delete_generation_text(
    *, user: User, acting_user: User, generation_id: int
) -> DeletionRequest | None:
    """Erase the prompt and completion of `user`'s generation `generation_id` now.

    Only the person themselves: `acting_user` must be `user`. Idempotent: a generation
    that holds no text (already deleted, expired or never stored) is left as it is and
    no new record is made; returns None then.
    Side effects, in one transaction: locks the generation row; sets its prompt and
    completion to NULL and its text_state to "deleted" (the registry's stored-text
    erasure; every other column, billing metadata, is kept); inserts a COMPLETED
    DeletionRequest (scope prompts, origin user) with its receipt; REQUESTED and
    COMPLETED audit events.
    Raises Generation.DoesNotExist for an id that is not one of `user`'s generations,
    PermissionError when someone else acts.
    """
    if acting_user.pk != user.pk:
        raise PermissionError("only the person themselves deletes one request's text")
    generation = (
        Generation.objects.select_for_update()
        .filter(user_id=user.pk, pk=generation_id)
        .only("pk", "text_state")
        .get()
    )
    entry = next(e for e in registry.entries() if e.model is Generation)
    stored = entry.stored_text
    if not Generation.objects.filter(stored.remaining, pk=generation.pk).exists():
        return None
    Generation.objects.filter(pk=generation.pk).update(**stored.erase)

    now = timezone.now()
    erased = {"deleted": {}, "text_erased": {_generation_kind(): 1}}
    request = DeletionRequest.objects.create(
        user_id=user.pk,
        scope=DeletionRequest.Scope.PROMPTS,
        origin=DeletionRequest.Origin.USER,
        status=Status.COMPLETED,
        received_at=now,
        received_by_id=user.pk,
        due_at=now,
        verified_at=now,
        verified_by_id=user.pk,
        verification_method=DeletionRequest.VerificationMethod.SIGNED_IN,
        scheduled_at=now,
        scheduled_by_id=user.pk,
        started_at=now,
        completed_at=now,
        receipt={
            "scope": DeletionRequest.Scope.PROMPTS,
            "older_than": None,
            "generation": generation.pk,
            "erased": erased,
            "kept": [],
            "completed_at": iso(now),
        },
    )
    audit.record(
        action=Action.REQUESTED,
        deletion_request=request,
        actor_id=user.pk,
        detail={"scope": request.scope, "origin": request.origin, "older_than": None},
    )
    audit.record(
        action=Action.COMPLETED,
        deletion_request=request,
        actor_id=user.pk,
        detail={"chunks": 0, **erased},
    )
    return request
