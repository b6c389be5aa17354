"""Rights and obligations: deletion requests (the stored lifecycle of a purge),
terminations (the company ending an account, with notice) and the append-only audit
trail of every step. See privacy/README.md."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone

# The policy gives no number; 30 days is the common legal ceiling for answering an
# erasure request, and the portal holds itself to it.
DELETION_DUE_AFTER = dt.timedelta(days=30)


class DeletionRequest(models.Model):
    """One request to erase a person's data, from receipt to its receipt.

    Ids of people are plain integers: the row outlives the account it erases (and the
    support agent's account), so it never points at them with a foreign key. Once an
    account's purge completes, every one of its ids here is set to NULL and the free text
    about it cleared (a kept record: privacy/personal_data.py).
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        VERIFIED = "verified", "Verified"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    class Scope(models.TextChoices):
        PROMPTS = "prompts", "Stored prompts and completions"
        ACCOUNT = "account", "The whole account"

    class Origin(models.TextChoices):
        USER = "user", "The user"
        SUPPORT = "support", "Support, on the user's behalf"
        UNDER_13 = "under_13", "Under-13 report"
        TERMINATION = "termination", "Termination"
        # An account made by signing up with an address it never confirmed, left with
        # no way in once the address's owner confirmed it elsewhere or it expired.
        UNCONFIRMED = "unconfirmed", "Never confirmed: no way into the account was left"

    class VerificationMethod(models.TextChoices):
        SIGNED_IN = "signed_in", "Signed in and re-authenticated"
        EMAIL_REPLY = "email_reply", "Reply from the account's email address"
        COMPANY_DECISION = (
            "company_decision",
            "Not needed: the company's own decision (termination, under-13 report)",
        )
        OTHER = "other", "Other (describe)"

    OPEN_STATUSES = (Status.RECEIVED, Status.VERIFIED, Status.SCHEDULED, Status.RUNNING)

    user_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="The account whose data is erased; empty once it is erased.",
    )
    scope = models.CharField(max_length=16, choices=Scope)
    # Prompts scope only: erase text of generations created before this moment.
    older_than = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin)
    status = models.CharField(max_length=16, choices=Status, default=Status.RECEIVED)

    received_at = models.DateTimeField(default=timezone.now)
    received_by_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by_id = models.BigIntegerField(null=True, blank=True)
    # How the requester was shown to be the account holder; the note says how for
    # "other" (free text, support's words: no copy of an ID document, no address;
    # cleared once the account is erased, as the rejection reason is).
    verification_method = models.CharField(max_length=20, choices=VerificationMethod, blank=True)
    verification_note = models.CharField(max_length=500, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    scheduled_by_id = models.BigIntegerField(null=True, blank=True)
    # Not before this moment (a termination's notice period); NULL: as soon as possible.
    purge_after = models.DateTimeField(null=True, blank=True)
    # A legal hold on the termination behind this request: the purge does not start
    # while it is set. Kept here, on the row the claim's conditional UPDATE reads, so a
    # hold and a claim racing cannot both win (Termination.legal_hold is the record of
    # it, written in the same transaction).
    held = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by_id = models.BigIntegerField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by_id = models.BigIntegerField(null=True, blank=True)

    # The worker chain holding the request: a claim token, the chunks done under it
    # (a redelivered message for a chunk already done is recognised and dropped), and a
    # heartbeat the sweeper reads to tell a live purge from one whose worker died.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    # {"deleted": {kind: n}, "anonymised": {kind: n}, "archived": {kind: n},
    # "text_erased": {kind: n}}, written in the same transaction as each chunk, so it is
    # exact after a crash. Archived rows are deleted with their billing fields copied
    # into the anonymous ledger (privacy/registry.py).
    progress = models.JSONField(default=dict, blank=True)
    # What was erased and what was kept and why; counts only, never content.
    receipt = models.JSONField(default=dict, blank=True)

    # Where the completion notice goes; cleared in the transaction that records the
    # notice as sent, so the address is kept no longer than needed.
    notice_email = models.EmailField(max_length=254, blank=True)
    notice_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The sweeper: scheduled or running requests, and their heartbeats.
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=models.Q(status__in=["scheduled", "running"]),
                name="delreq_open",
            ),
        ]
        constraints = [
            # One open account deletion per account: deleting twice returns the first.
            models.UniqueConstraint(
                fields=["user_id"],
                condition=models.Q(
                    scope="account", status__in=["received", "verified", "scheduled", "running"]
                ),
                name="delreq_one_open_account_deletion",
            ),
        ]

    def __str__(self) -> str:
        # Never the address or the user: this string ends up in admin history.
        return f"deletion request {self.pk}"

    @property
    def target(self) -> str:
        """The opaque id the audit trail uses for this request."""
        return f"deletion_request:{self.pk}"


class Termination(models.Model):
    """The company ending an account ("we may terminate your use of the services ...
    with notice to you"): why, the notice the person was given, and the account
    deletion it scheduled after a grace period, unless a legal hold stops it.

    A record of a company action, so it outlives the account: the purge anonymises it
    (no account id, no free text; the category, dates and staff ids stay). See the
    registration in privacy/personal_data.py.
    """

    class ReasonCategory(models.TextChoices):
        TERMS_BREACH = "terms_breach", "Breach of the Terms of Service"
        ABUSE = "abuse", "Abuse of the service or of other people"
        FRAUD = "fraud", "Fraud or payment abuse"
        LEGAL = "legal", "Legal requirement"
        OTHER = "other", "Other"

    # NULL once the purge anonymised the record (the account is gone).
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reason_category = models.CharField(max_length=20, choices=ReasonCategory)
    # Free text: may name the person or quote what they did, so cleared by the purge.
    reason = models.TextField()
    notice_text = models.TextField()
    terminated_by_id = models.BigIntegerField(null=True, blank=True)
    terminated_at = models.DateTimeField(default=timezone.now)
    # When the notice mail went out (after commit); NULL: the account had no verified
    # address, or the send failed. The in-app notice at sign-in is shown either way.
    notice_emailed_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField()
    legal_hold = models.BooleanField(default=False)
    legal_hold_reason = models.TextField(blank=True)
    legal_hold_changed_at = models.DateTimeField(null=True, blank=True)
    legal_hold_changed_by_id = models.BigIntegerField(null=True, blank=True)
    deletion_request = models.OneToOneField(
        DeletionRequest, on_delete=models.PROTECT, related_name="termination"
    )

    class Meta:
        ordering = ["-terminated_at", "-id"]
        permissions = [
            ("terminate_account", "Can terminate an account"),
            ("report_under_13", "Can delete an account reported as under 13"),
            ("set_legal_hold", "Can set or lift a legal hold"),
        ]

    def __str__(self) -> str:
        # Never the address: this string ends up in admin history.
        return f"termination {self.pk}"

    @property
    def target(self) -> str:
        return f"termination:{self.pk}"


# An audit event's target once the account it named is erased (AuditEvent).
ERASED_ACCOUNT_TARGET = "account:erased"


class AppendOnly(Exception):
    """Raised when code tries to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("audit events are append-only")

    def delete(self):
        raise AppendOnly("audit events are append-only")


class AuditEvent(models.Model):
    """One step of a privacy lifecycle: who, what, when, on which opaque target.

    Append-only: the model refuses updates and deletes, and a database trigger
    (migrations 0002, 0008) refuses them to raw SQL as well. No prompt text and no email
    address ever goes in: `target` is an opaque id and `detail` holds counts and states.
    The one change allowed is forgetting an erased account: its id in `actor_id` becomes
    NULL and `account:<id>` becomes ERASED_ACCOUNT_TARGET, and the trigger allows that
    only once the account row is gone (the purge does it: privacy/personal_data.py).
    """

    class Action(models.TextChoices):
        REQUESTED = "requested", "Requested"
        VERIFIED = "verified", "Verified"
        SCHEDULED = "scheduled", "Scheduled"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        ACCOUNT_CLOSED = "account_closed", "Account closed"
        STARTED = "started", "Purge started"
        RECLAIMED = "reclaimed", "Purge reclaimed from a dead worker"
        CHUNK = "chunk", "Chunk purged"
        COMPLETED = "completed", "Completed"
        NOTICE_SENT = "notice_sent", "Completion notice sent"
        SWEPT = "swept", "Re-enqueued by the sweeper"
        TERMINATED = "terminated", "Account terminated"
        LEGAL_HOLD_SET = "legal_hold_set", "Legal hold set"
        LEGAL_HOLD_LIFTED = "legal_hold_lifted", "Legal hold lifted"
        DATA_DOWNLOADED = "data_downloaded", "Data downloaded by the person"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # A user id (the person or support staff) as a plain integer; NULL is the system,
    # or an account since erased.
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action)
    target = models.CharField(max_length=64, db_index=True)
    deletion_request = models.ForeignKey(
        DeletionRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # An erased account's id is forgotten by actor (the purge's last chunk);
            # most events are the system's (NULL), so the index holds only people's.
            models.Index(
                fields=["actor_id"], condition=models.Q(actor_id__isnull=False), name="audit_actor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("audit events are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit events are append-only")


class Acknowledgement(models.Model):
    """A person acknowledged a version of a published document (privacy/versions.py): by
    signing up under it, or on the notice that it changed."""

    class How(models.TextChoices):
        SIGNUP = "signup", "Signed up under it"
        NOTICE = "notice", "Read it from the change notice"

    version = models.CharField(max_length=10)
    how = models.CharField(max_length=8, choices=How)
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["acknowledged_at", "pk"]


class PolicyAcknowledgement(Acknowledgement):
    """An acknowledgement of the privacy policy (privacy/policy.py)."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="policy_acknowledgements"
    )

    class Meta(Acknowledgement.Meta):
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="policy_ack_once"),
        ]

    def __str__(self) -> str:
        return f"policy {self.version}, {self.get_how_display()}"


class TermsAcknowledgement(Acknowledgement):
    """An acknowledgement of the Terms of Service (privacy/terms.py)."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="terms_acknowledgements"
    )

    class Meta(Acknowledgement.Meta):
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="terms_ack_once"),
        ]

    def __str__(self) -> str:
        return f"terms {self.version}, {self.get_how_display()}"


class ServiceProvider(models.Model):
    """A company that receives personal data to do work for the portal, as
    /legal/service-providers/ lists it ("We do not share your personal information with
    third parties except for certain service providers"). Kept by administrators in the
    admin; support staff may read the list there."""

    class Analytics(models.TextChoices):
        PLAUSIBLE = "plausible", "Plausible Analytics"
        MATOMO = "matomo", "Matomo"
        GOOGLE = "google", "Google Analytics"

    name = models.CharField(max_length=120)
    purpose = models.CharField("what for", max_length=500)
    data_received = models.TextField("which data it receives")
    location = models.CharField("where", max_length=300)
    # An analytics service is used only when the operator configures it: its row is
    # listed only while PORTAL_ANALYTICS_PROVIDER names it (privacy/analytics.py).
    analytics = models.CharField(
        max_length=16,
        choices=Analytics,
        blank=True,
        help_text=(
            "For an analytics service: listed only while PORTAL_ANALYTICS_PROVIDER names "
            "it. Leave empty for a provider the portal always uses."
        ),
    )
    position = models.PositiveSmallIntegerField(
        default=100, help_text="Order on the page, smallest first."
    )

    class Meta:
        ordering = ["position", "name", "pk"]

    def __str__(self) -> str:
        return self.name
