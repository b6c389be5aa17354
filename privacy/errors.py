"""What the privacy actions raise when they refuse a step. Nothing was changed: the
action's transaction rolled back. The admin shows each as an error message
(portal/admin_steps.py), the account pages as a message on the page."""

from __future__ import annotations


class DeletionRequestError(Exception):
    """A transition the request's current state does not allow."""


class TerminationError(Exception):
    """A termination, legal hold or under-13 step the account's state does not allow."""


class ForbiddenStep(Exception):
    """A step the rules for staff keep from this person (privacy/README.md, "Support"):
    support acting on a staff or superuser account, scheduling a request they opened and
    verified alone, or closing someone else's account in one step. A superuser may."""


# Every refusal of a support step: an illegal transition, a step the rules for staff keep
# from this person, or input the action refuses.
STEP_ERRORS = (DeletionRequestError, TerminationError, ForbiddenStep, ValueError)
