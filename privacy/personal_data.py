"""The privacy app's own personal data, for the purge engine (privacy/registry.py).

DeletionRequest and AuditEvent are the record of the erasure itself: kept records
(`register_record`), not the person's data. They hold people's ids as plain integers,
and a request holds support's free text about the person; once the account's purge
completes, its id is forgotten everywhere and that text cleared, so nothing kept leads
back to the erased account. The request is then found by its own id, the reference its
completion notice gives the person.
"""

from __future__ import annotations

from privacy.models import (
    ERASED_ACCOUNT_TARGET,
    AuditEvent,
    DeletionRequest,
    PolicyAcknowledgement,
    Termination,
    TermsAcknowledgement,
)
from privacy.registry import register, register_record

register(PolicyAcknowledgement)
register(TermsAcknowledgement)

# A termination is a record of a company action, kept after the account is gone (who
# on staff ended which kind of breach, when, and whether a legal hold applied); the
# free text may name the person or quote them, so it goes with the account.
register(
    Termination,
    how="anonymise",
    user_field="user_id",
    reason=(
        "Record of a company action: the reason category, dates and staff ids of the "
        "termination are kept; the account id and all free text are erased."
    ),
    anonymise={"user_id": None, "reason": "", "notice_text": "", "legal_hold_reason": ""},
    people=("terminated_by_id", "legal_hold_changed_by_id"),
    not_exported={
        "legal_hold_reason": (
            "why the company must keep data (an investigation, a court order): telling the "
            "person could defeat the hold"
        ),
    },
)


def _finished_requests_about(user_id: int):
    # A request still open needs its account id until it ends; the purge cancels the
    # erased account's other open requests and a running one forgets it when it completes.
    return DeletionRequest._base_manager.filter(user_id=user_id).exclude(
        status__in=DeletionRequest.OPEN_STATUSES
    )


register_record(
    DeletionRequest,
    reason=(
        "The record of an erasure and its receipt (counts, and what was kept and why), "
        "found by the request's own id."
    ),
    about=_finished_requests_about,
    clear={"user_id": None, "verification_note": "", "rejection_reason": ""},
    people=(
        "received_by_id",
        "verified_by_id",
        "scheduled_by_id",
        "rejected_by_id",
        "cancelled_by_id",
    ),
    kept={
        "notice_email": (
            "where the completion notice goes: cleared in the transaction that records it "
            "sent (or at rejection or cancellation), so kept no longer than needed"
        ),
        "progress": "counts per kind of row",
        "receipt": (
            "counts per kind of row, and what was kept and why (this registry's words); "
            "for one request's text deleted from its page, the portal's id of that "
            "generation (privacy/deletion/one_request.py), a row that goes with the account"
        ),
    },
)


def _downloads_of(user_id: int):
    return AuditEvent._base_manager.filter(target=f"account:{user_id}")


register_record(
    AuditEvent,
    reason="The append-only trail of every step: when, what, on which request or termination.",
    about=_downloads_of,
    clear={"target": ERASED_ACCOUNT_TARGET},
    people=("actor_id",),
    kept={
        "target": (
            "an opaque id of a deletion request or termination; a data download's "
            "account:<id> is forgotten with the account"
        ),
        "detail": "counts, states and choices: never free text, an address or content",
    },
)
