"""The privacy app's own personal data, for the purge engine (privacy/registry.py).

DeletionRequest and AuditEvent are not here: they are the record of the erasure itself
and hold no personal data beyond a plain account id (the request's notice address is
cleared once the notice is sent).
"""

from __future__ import annotations

from privacy.models import PolicyAcknowledgement, Termination
from privacy.registry import register

register(PolicyAcknowledgement)

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
    not_exported={
        "legal_hold_reason": (
            "why the company must keep data (an investigation, a court order): telling the "
            "person could defeat the hold"
        ),
    },
)
