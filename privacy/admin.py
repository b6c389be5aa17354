"""Support's side of the privacy lifecycle in the admin: deletion requests, terminations
and the audit trail (privacy/README.md, "Support").

Every field of these rows is read-only here: the lifecycle owns them. Support moves a
request with per-object steps (verify, schedule, reject) and opens one for someone who
wrote in; each step is a confirmation page (portal/admin_steps.py) whose POST calls one
privacy action with acting_user=request.user. A step the request's state does not
allow is an error message, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import User, Wallet
from accounts.selectors import users_owning_address
from accounts.wallets import ADDRESS_RE as WALLET_ADDRESS_RE
from portal.admin_steps import (
    OverdueFilter,
    ReadOnlyAdmin,
    change_url,
    step_target,
    support_step,
)
from portal.compat import unquote
from privacy.deletion.requests import (
    do_reject_deletion_request,
    do_request_deletion,
    do_schedule_deletion_request,
    do_verify_deletion_request,
)
from privacy.errors import STEP_ERRORS
from privacy.models import AuditEvent, DeletionRequest, ServiceProvider, Termination
from privacy.selectors import request_step_refusal
from privacy.termination.legal_hold import do_set_legal_hold

Status = DeletionRequest.Status
Method = DeletionRequest.VerificationMethod


def mask_email(address: str) -> str:
    """Enough to match a reply against ("a•••@example.com"), not the whole address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


# --- Deletion requests ------------------------------------------------------------


class VerifyForm(forms.Form):
    verification_method = forms.ChoiceField(
        label="How was the requester verified?",
        choices=[(m.value, m.label) for m in Method if m != Method.COMPANY_DECISION],
        widget=forms.RadioSelect,
    )
    verification_note = forms.CharField(
        label="Note",
        required=False,
        max_length=DeletionRequest._meta.get_field("verification_note").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Required for "Other": what was checked. No copies of documents, no addresses.',
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("verification_method") == Method.OTHER
            and not data.get("verification_note", "").strip()
        ):
            self.add_error("verification_note", "Say how the requester was verified.")
        return data


class ScheduleForm(forms.Form):
    pass


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=DeletionRequest._meta.get_field("rejection_reason").max_length,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Sent to the requester by email and kept on the request.",
    )


class OpenRequestForm(forms.Form):
    address = forms.CharField(
        label="Account's email or wallet address",
        max_length=254,
        help_text="The email address of the account the person wrote in about, or for an "
        "account that signs in with a wallet, its address (0x…).",
    )
    scope = forms.ChoiceField(choices=DeletionRequest.Scope.choices, widget=forms.RadioSelect)

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip()
        if WALLET_ADDRESS_RE.match(address):
            # Checksummed when stored; iexact finds any spelling.
            wallet = Wallet.objects.select_related("user").filter(address__iexact=address)
            account = next((w.user for w in wallet[:1]), None)
            what = "wallet address"
        else:
            try:
                validate_email(address)
            except ValidationError:
                raise forms.ValidationError(
                    "Enter an email address, or a wallet address (0x and 40 hexadecimal digits)."
                ) from None
            # The account that confirmed the address: one that only holds it unverified
            # has not shown it is theirs, and the person writing in may be its owner.
            account = next(iter(users_owning_address(address)), None)
            what = "confirmed email address"
        if account is None:
            raise forms.ValidationError(
                f"No account has this {what}. Check the address with the person."
            )
        self.cleaned_data["account"] = account
        return address


@admin.register(DeletionRequest)
class DeletionRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user_id",
        "scope",
        "origin",
        "status",
        "days_left",
        "progress_summary",
        "receipt_summary",
        "received_at",
    ]
    list_filter = ["status", "origin", OverdueFilter, "scope"]
    search_fields = ["=id", "=user_id"]
    date_hierarchy = "received_at"
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    "account",
                    "scope",
                    "older_than",
                    "origin",
                    "status",
                    "received_at",
                    "received_by_id",
                    "due_at",
                    "days_left",
                ]
            },
        ),
        (
            "Verification",
            {
                "fields": [
                    "verified_at",
                    "verified_by_id",
                    "verification_method",
                    "verification_note",
                ]
            },
        ),
        (
            "Schedule",
            {"fields": ["scheduled_at", "scheduled_by_id", "purge_after", "termination_link"]},
        ),
        (
            "Rejection and cancellation",
            {
                "fields": [
                    "rejected_at",
                    "rejected_by_id",
                    "rejection_reason",
                    "cancelled_at",
                    "cancelled_by_id",
                ]
            },
        ),
        (
            "Purge",
            {
                "fields": [
                    "started_at",
                    "heartbeat_at",
                    "chunks_done",
                    "progress_summary",
                    "completed_at",
                    "receipt_detail",
                ]
            },
        ),
        ("Notice", {"fields": ["notice_address", "notice_sent_at"]}),
    ]

    # Everything: the lifecycle owns every field (the privacy actions write them).
    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_process_permission(self, request) -> bool:
        return request.user.has_perm("privacy.change_deletionrequest")

    # --- Columns and read-only fields

    @admin.display(description="days left", ordering="due_at")
    def days_left(self, obj: DeletionRequest) -> str:
        if obj.status not in DeletionRequest.OPEN_STATUSES:
            return "–"
        days = (obj.due_at - timezone.now()) / dt.timedelta(days=1)
        # Whole days, rounded towards overdue: due in 3.5 days shows 3, 2 h late is -1.
        whole = int(days // 1)
        return f"{whole} (overdue)" if whole < 0 else str(whole)

    @admin.display(description="progress")
    def progress_summary(self, obj: DeletionRequest) -> str:
        progress = obj.progress or {}
        totals = {key: sum(progress.get(key, {}).values()) for key in _PROGRESS_LABELS}
        if not any(totals.values()):
            return "–"
        return ", ".join(f"{_PROGRESS_LABELS[k]} {n}" for k, n in totals.items() if n)

    @admin.display(description="receipt")
    def receipt_summary(self, obj: DeletionRequest) -> str:
        receipt = obj.receipt or {}
        if not receipt:
            return "–"
        erased = receipt.get("erased", {})
        deleted = sum(erased.get("deleted", {}).values())
        texts = sum(erased.get("text_erased", {}).values())
        kept = sum(item["count"] for item in receipt.get("kept", []))
        return f"deleted {deleted}, text erased {texts}, kept anonymised {kept}"

    @admin.display(description="receipt")
    def receipt_detail(self, obj: DeletionRequest) -> str:
        receipt = obj.receipt or {}
        if not receipt:
            return "–"
        erased = receipt.get("erased", {})
        rows = [
            (label, kind, count)
            for key, label in (("deleted", "deleted"), ("text_erased", "text erased"))
            for kind, count in sorted(erased.get(key, {}).items())
        ] + [(_kept_label(item), item["kind"], item["count"]) for item in receipt.get("kept", [])]
        return format_html(
            '<table class="receipt"><thead><tr><th>what</th><th>kind</th><th>rows</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="account")
    def account(self, obj: DeletionRequest) -> str:
        if obj.user_id is None:
            # The purge completed and forgot the account's id (privacy/personal_data.py).
            return "erased"
        user = User.objects.filter(pk=obj.user_id).only("is_active").first()
        if user is None:
            return f"#{obj.user_id} (erased)"
        return f"#{obj.user_id} ({'active' if user.is_active else 'closed'})"

    @admin.display(description="termination")
    def termination_link(self, obj: DeletionRequest) -> str:
        termination = Termination.objects.filter(deletion_request=obj).first()
        if termination is None:
            return "–"
        hold = " — legal hold: the purge will not start" if termination.legal_hold else ""
        return format_html('<a href="{}">{}</a>{}', change_url(termination), termination, hold)

    @admin.display(description="notice address")
    def notice_address(self, obj: DeletionRequest) -> str:
        # Kept only until the notice is sent, and masked even then.
        return mask_email(obj.notice_email) if obj.notice_email else "–"

    # --- Pages

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("open/", wrap(self.open_request_view), name=f"{name}_open"),
            path("<path:object_id>/verify/", wrap(self.verify_view), name=f"{name}_verify"),
            path("<path:object_id>/schedule/", wrap(self.schedule_view), name=f"{name}_schedule"),
            path("<path:object_id>/reject/", wrap(self.reject_view), name=f"{name}_reject"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if self.has_process_permission(request):
            extra_context["open_request_url"] = reverse("admin:privacy_deletionrequest_open")
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_process_permission(request):
            steps, notes = [], []
            for step, label, allowed in _STEPS:
                if obj.status not in allowed:
                    continue
                refusal = self._refusal(request, obj, step)
                if refusal:
                    notes.append(f"{label}: {refusal}.")
                else:
                    url = reverse(f"admin:privacy_deletionrequest_{step}", args=[obj.pk])
                    steps.append((label, url))
            extra_context["support_steps"] = steps
            extra_context["support_notes"] = notes
        return super().change_view(request, object_id, form_url, extra_context)

    def _refusal(self, request, obj: DeletionRequest, step: str) -> str | None:
        """Why this person may not take `step` on this request (the action checks again)."""
        if step not in ("verify", "schedule"):
            return None
        return request_step_refusal(acting_user=request.user, deletion_request=obj, step=step)

    def _step_target(self, request, object_id, step: str) -> DeletionRequest | HttpResponse:
        """The request `step` acts on. A step its state refuses is not offered (a GET
        goes back to the request with why); the action checks again on POST."""
        obj = step_target(self, request, object_id, allowed=self.has_process_permission(request))
        if isinstance(obj, HttpResponse):
            return obj
        allowed = next(allowed for name, _, allowed in _STEPS if name == step)
        if request.method == "GET" and obj.status not in allowed:
            self.message_user(
                request,
                f"Cannot {step} {obj}: it is {obj.get_status_display().lower()}.",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url(obj))
        refusal = self._refusal(request, obj, step) if request.method == "GET" else None
        if refusal:
            self.message_user(request, f"Cannot {step} {obj}: {refusal}.", messages.ERROR)
            return HttpResponseRedirect(change_url(obj))
        return obj

    def _facts(self, obj: DeletionRequest) -> list[tuple[str, Any]]:
        return [
            ("Account", self.account(obj)),
            ("Scope", obj.get_scope_display()),
            ("Origin", obj.get_origin_display()),
            ("Status", obj.get_status_display()),
            ("Received", obj.received_at),
            ("Due", obj.due_at),
        ]

    def verify_view(self, request, object_id):
        obj = self._step_target(request, object_id, "verify")
        if isinstance(obj, HttpResponse):
            return obj

        def perform(data):
            do_verify_deletion_request(
                deletion_request=obj,
                acting_user=request.user,
                verification_method=data["verification_method"],
                verification_note=data["verification_note"],
            )
            return f"{obj} is verified. Schedule it to start the purge.", change_url(obj)

        return support_step(
            self,
            request,
            obj=obj,
            form_class=VerifyForm,
            title=f"Verify {obj}",
            submit_label="Verify",
            perform=perform,
            refused=STEP_ERRORS,
            intro=["Record how you made sure the requester is the account holder."],
            facts=self._facts(obj),
        )

    def schedule_view(self, request, object_id):
        obj = self._step_target(request, object_id, "schedule")
        if isinstance(obj, HttpResponse):
            return obj

        def perform(data):
            do_schedule_deletion_request(deletion_request=obj, acting_user=request.user)
            return f"{obj} is scheduled: the purge starts now.", change_url(obj)

        warning = (
            "Scheduling closes the account at once (signed out everywhere, API keys "
            "revoked) and starts erasing its data. This cannot be undone once it runs."
            if obj.scope == DeletionRequest.Scope.ACCOUNT
            else "Scheduling starts erasing the stored prompt and completion text."
        )
        return support_step(
            self,
            request,
            obj=obj,
            form_class=ScheduleForm,
            title=f"Schedule {obj}",
            submit_label="Schedule the purge",
            perform=perform,
            refused=STEP_ERRORS,
            warning=warning,
            facts=self._facts(obj),
        )

    def reject_view(self, request, object_id):
        obj = self._step_target(request, object_id, "reject")
        if isinstance(obj, HttpResponse):
            return obj

        def perform(data):
            do_reject_deletion_request(
                deletion_request=obj, acting_user=request.user, reason=data["reason"]
            )
            return f"{obj} is rejected; the requester was told why.", change_url(obj)

        return support_step(
            self,
            request,
            obj=obj,
            form_class=RejectForm,
            title=f"Reject {obj}",
            submit_label="Reject and tell the requester",
            perform=perform,
            refused=STEP_ERRORS,
            intro=["Nothing is erased. The requester gets an email with your reason."],
            facts=self._facts(obj),
        )

    def open_request_view(self, request):
        if not self.has_process_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:privacy_deletionrequest_changelist")

        def perform(data):
            opened = do_request_deletion(
                user=data["account"],
                acting_user=request.user,
                scope=data["scope"],
                origin=DeletionRequest.Origin.SUPPORT,
            )
            return f"{opened} is open. Verify the requester next.", change_url(opened)

        # From an account's page ("Delete account"): the account's address filled in.
        initial = None
        account_id = request.GET.get("account", "")
        if request.method == "GET" and account_id.isdigit():
            account = User.objects.filter(pk=int(account_id)).first()
            if account is not None:
                initial = {"address": account.identity}
        return support_step(
            self,
            request,
            obj=None,
            form_class=OpenRequestForm,
            title="Open a deletion request for someone who wrote in",
            submit_label="Open the request",
            perform=perform,
            refused=STEP_ERRORS,
            done_url=changelist,
            intro=[
                "For a person who asked by email or another channel. The request waits "
                "for verification, as one made in the account would.",
                "An account deletion already open for the account is shown instead of a "
                "second one.",
            ],
            initial=initial,
        )


_PROGRESS_LABELS = {
    "deleted": "deleted",
    "anonymised": "anonymised",
    "archived": "archived (billing ledger)",
    "text_erased": "text erased",
}


def _kept_label(item: dict) -> str:
    # Archived: the rows were deleted and their billing totals added into `into`.
    where = f", in {item['into']}" if item.get("how") == "archived" and item.get("into") else ""
    return f"kept, anonymised{where}: {item['reason']}"


# (step, button label, statuses it is offered in); the action is the real check.
_STEPS = [
    ("verify", "Verify", (Status.RECEIVED,)),
    ("schedule", "Schedule", (Status.VERIFIED,)),
    ("reject", "Reject", (Status.RECEIVED, Status.VERIFIED)),
]


# --- Terminations -------------------------------------------------------------------


class LegalHoldForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the hold is set or lifted (e.g. the legal matter's reference).",
    )


@admin.register(Termination)
class TerminationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user_id",
        "reason_category",
        "terminated_at",
        "purge_after",
        "legal_hold",
        "request_status",
        "notice_emailed_at",
    ]
    list_filter = ["reason_category", "legal_hold"]
    search_fields = ["=id", "=user_id"]
    date_hierarchy = "terminated_at"
    fields = [
        "user_id",
        "reason_category",
        "reason",
        "notice_text",
        "terminated_by_id",
        "terminated_at",
        "notice_emailed_at",
        "purge_after",
        "request_link",
        "legal_hold",
        "legal_hold_reason",
        "legal_hold_changed_at",
        "legal_hold_changed_by_id",
    ]
    readonly_fields = fields

    def has_legal_hold_permission(self, request) -> bool:
        return request.user.has_perm("privacy.set_legal_hold")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("deletion_request")

    @admin.display(description="deletion")
    def request_status(self, obj: Termination) -> str:
        return obj.deletion_request.get_status_display()

    @admin.display(description="deletion request")
    def request_link(self, obj: Termination) -> str:
        request = obj.deletion_request
        return format_html(
            '<a href="{}">{}</a> ({})', change_url(request), request, request.get_status_display()
        )

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/legal-hold/",
                self.admin_site.admin_view(self.legal_hold_view),
                name=f"{name}_legal_hold",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, unquote(object_id))
        if (
            obj is not None
            and self.has_legal_hold_permission(request)
            and obj.deletion_request.status == Status.SCHEDULED
        ):
            label = "Lift legal hold" if obj.legal_hold else "Set legal hold"
            url = reverse("admin:privacy_termination_legal_hold", args=[obj.pk])
            extra_context["support_steps"] = [(label, url)]
        return super().change_view(request, object_id, form_url, extra_context)

    def legal_hold_view(self, request, object_id):
        obj = step_target(self, request, object_id, allowed=self.has_legal_hold_permission(request))
        if isinstance(obj, HttpResponse):
            return obj
        hold = not obj.legal_hold

        def perform(data):
            do_set_legal_hold(
                termination=obj, acting_user=request.user, hold=hold, reason=data["reason"]
            )
            done = "set: the purge will not start" if hold else "lifted: the purge goes ahead"
            return f"Legal hold on {obj} {done}.", change_url(obj)

        return support_step(
            self,
            request,
            obj=obj,
            form_class=LegalHoldForm,
            title=f"{'Set' if hold else 'Lift'} the legal hold on {obj}",
            submit_label="Set legal hold" if hold else "Lift legal hold",
            perform=perform,
            refused=STEP_ERRORS,
            intro=[
                "While a legal hold is set, the terminated account's data is not purged, "
                "even after the grace period."
                if hold
                else "Once lifted, the purge starts as soon as the grace period is over "
                "(at once if it is already over).",
            ],
            facts=[
                ("Purge after", obj.purge_after),
                ("Account", f"#{obj.user_id}" if obj.user_id is not None else "erased"),
            ],
        )


# --- The audit trail ----------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only for everyone, superusers included: the trail is append-only."""

    list_display = ["at", "action", "target", "actor_id", "detail"]
    list_filter = ["action"]
    search_fields = ["=target", "=actor_id"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor_id", "action", "target", "deletion_request", "detail"]


# --- Service providers -------------------------------------------------------------


@admin.register(ServiceProvider)
class ServiceProviderAdmin(admin.ModelAdmin):
    """The list /legal/service-providers/ publishes. What the portal tells the public
    about who receives their data is the company's statement: administrators
    (superusers) keep it; support staff may read it (privacy migration 0011)."""

    list_display = ["name", "purpose", "location", "analytics", "position"]
    list_filter = ["analytics"]
    ordering = ["position", "name"]

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
