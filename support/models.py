"""Support tickets: what people send through /contact/ (support/README.md).

A ticket is personal data (support/personal_data.py): downloaded with the account and
erased with it, found by the account that filed it signed in or by any address the
account verified. Staff ids are plain integers, as on the privacy records, so a ticket
never points at a staff account.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from privacy.models import DELETION_DUE_AFTER

# The policy gives no number; support answers every ticket within the time the portal
# holds itself to for deletion requests (privacy/models.py).
TICKET_DUE_AFTER = DELETION_DUE_AFTER


class Ticket(models.Model):
    class Kind(models.TextChoices):
        QUESTION = "question", "A question"
        DELETE_PROMPTS = "delete_prompts", "Delete my stored prompts and completions"
        DELETE_ACCOUNT = "delete_account", "Delete my account"
        UNDER_13 = "under_13", "This account belongs to a child under 13"
        APPEAL = "appeal", "An appeal against a termination"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        # Turned into a deletion request or an under-13 report (deletion_request).
        CONVERTED = "converted", "Turned into a request"

    OPEN_STATUSES = (Status.OPEN,)
    # The kinds support turns into a request, and which.
    DELETION_SCOPES = {Kind.DELETE_PROMPTS: "prompts", Kind.DELETE_ACCOUNT: "account"}
    CONVERTIBLE = (Kind.DELETE_PROMPTS, Kind.DELETE_ACCOUNT, Kind.UNDER_13)

    MESSAGE_MAX_LENGTH = 5000
    ANSWER_MAX_LENGTH = 5000

    kind = models.CharField(max_length=20, choices=Kind)
    # The address the person gave: the confirmation and support's answer go there.
    email = models.EmailField(max_length=254)
    message = models.TextField(max_length=MESSAGE_MAX_LENGTH)
    # The account signed in when the ticket was filed, if any (never looked up by the
    # address: that would tell whoever files a ticket nothing, but link a stranger's
    # words to someone's account).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="support_tickets",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()

    answer = models.TextField(max_length=ANSWER_MAX_LENGTH, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by_id = models.BigIntegerField(null=True, blank=True)

    # The request support opened from this ticket (a deletion request, or the account
    # deletion of an under-13 report); the request outlives the ticket.
    deletion_request = models.ForeignKey(
        "privacy.DeletionRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="ticket_status_due"),
            models.Index(fields=["email"], name="ticket_email"),
        ]

    def __str__(self) -> str:
        return f"Ticket #{self.pk}"
