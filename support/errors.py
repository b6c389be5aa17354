"""What the support actions raise when they refuse a step; nothing was changed."""

from __future__ import annotations

from privacy.errors import STEP_ERRORS


class TicketError(Exception):
    """A step the ticket's state does not allow (answering twice, converting a question)."""


# Every refusal of a ticket step in the admin: the ticket's own, and the privacy
# actions' a conversion calls (an illegal transition, the rules for staff, bad input).
TICKET_STEP_ERRORS = (TicketError, *STEP_ERRORS)
