"""Writing the append-only audit trail (AuditEvent, privacy/models.py): one event per
step of a deletion request or a termination, and per data download. Only the privacy
actions write it, through these; nothing rewrites it except the forgetting of an erased
account (privacy/deletion/forget.py).

An event holds ids, states and counts: never free text, an address or content.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from privacy.models import AuditEvent, DeletionRequest, Termination

if TYPE_CHECKING:
    from accounts.models import User


def actor_id(acting_user: User | None) -> int | None:
    """Who acted, as the trail and the request record it: None is the system."""
    return acting_user.pk if acting_user is not None else None


def iso(value: dt.datetime | None) -> str | None:
    """A time as the trail's details and a request's receipt hold it."""
    return value.isoformat() if value is not None else None


def record(
    *,
    action: str,
    deletion_request: DeletionRequest,
    actor_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event about a deletion request (its target `deletion_request:<id>`)."""
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        target=deletion_request.target,
        deletion_request=deletion_request,
        detail=detail or {},
    )


def record_termination(
    termination: Termination, *, action: str, actor_id: int | None, detail: dict
) -> AuditEvent:
    """An event about a termination (its target `termination:<id>`), linked to the
    termination's deletion request."""
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        target=termination.target,
        deletion_request=termination.deletion_request,
        detail=detail,
    )
