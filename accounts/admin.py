"""Accounts in the admin: support staff find people here, terminate an account with
notice, and act on an under-13 report. Both steps are confirmation pages whose POST
calls one privacy action (privacy/README.md, "Support").

Nothing that holds personal data is deleted here, superusers included: an account goes
through the deletion workflow (a request, its purge, its audit trail), and Django's own
delete would skip all of that and leave admin history naming the address
(`has_delete_permission` below, and the allauth models registered again at the end)."""

from __future__ import annotations

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.mfa.models import Authenticator
from allauth.usersessions.admin import UserSessionAdmin as AllauthUserSessionAdmin
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from accounts.models import User, Wallet
from portal.admin_steps import change_url, step_target, support_step
from portal.compat import unquote
from privacy.errors import STEP_ERRORS
from privacy.models import Termination
from privacy.selectors import account_step_refusal
from privacy.termination.terminate import do_terminate_account, termination_notice_template
from privacy.termination.under_13 import do_report_under_13


class TerminateForm(forms.Form):
    reason_category = forms.ChoiceField(
        label="Reason", choices=[("", "---------"), *Termination.ReasonCategory.choices]
    )
    reason = forms.CharField(
        label="What happened",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For the record (internal). Erased with the account; the category stays.",
    )
    notice_text = forms.CharField(
        label="Notice to the person",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text="Emailed to the account's verified address, and shown to the person "
        "when they next try to sign in (after a correct password).",
    )


class Under13Form(forms.Form):
    note = forms.CharField(
        label="How the report came in",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="E.g. “email from a parent, ticket 1234”. No child's details.",
    )
    confirm = forms.BooleanField(
        label="I understand that this deletes the account and all its data now, and that "
        "it cannot be undone."
    )


def account_facts(user: User) -> list[tuple[str, str]]:
    """What both steps' confirmation pages show of the account."""
    return [("Account", f"#{user.pk}"), ("Active", "yes" if user.is_active else "no")]


class WalletInline(admin.TabularInline):
    """The wallets an account signs in with, to find and tell accounts apart. Read-only:
    the person links and removes them (a removal here could lock them out)."""

    model = Wallet
    fields = ["address", "created_at", "last_used_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email", "pk"]
    list_display = [
        "email",
        "wallet_addresses",
        "display_name",
        "is_active",
        "is_staff",
        "date_joined",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "display_name", "wallets__address"]
    inlines = [WalletInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("wallets")

    @admin.display(description="Wallets")
    def wallet_addresses(self, user: User) -> str:
        return ", ".join(wallet.address for wallet in user.wallets.all()) or "-"

    readonly_fields = ["date_joined", "last_login", "age_confirmed_at", "policy_acknowledged"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "age_confirmed_at", "policy_acknowledged"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]}),
    ]
    actions = ["terminate_account", "report_under_13"]

    def has_terminate_permission(self, request) -> bool:
        return request.user.has_perm("privacy.terminate_account")

    def has_report_under_13_permission(self, request) -> bool:
        return request.user.has_perm("privacy.report_under_13")

    def has_open_request_permission(self, request) -> bool:
        return request.user.has_perm("privacy.change_deletionrequest")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Not even a superuser: an account is deleted by the deletion workflow only. This
        # removes the delete button and the list's "delete selected" action as well.
        return False

    def delete_view(self, request, object_id, extra_context=None):
        """Where the delete button led (a bookmark, a typed URL): to the deletion workflow."""
        user = step_target(
            self, request, object_id, allowed=self.has_view_or_change_permission(request)
        )
        if isinstance(user, HttpResponse):
            return user
        if self.has_open_request_permission(request):
            self.message_user(
                request,
                "Accounts are not deleted here: a deletion request closes the account and "
                "erases everything it holds, with its audit trail. Open one below.",
                messages.WARNING,
            )
            url = reverse("admin:privacy_deletionrequest_open")
            return HttpResponseRedirect(f"{url}?account={user.pk}")
        self.message_user(
            request,
            "Accounts are not deleted here: a deletion request closes the account and "
            "erases everything it holds. Ask support to open one.",
            messages.ERROR,
        )
        return HttpResponseRedirect(change_url(user))

    # --- Actions on the list: one account at a time, to its confirmation page

    @admin.action(description="Terminate account", permissions=["terminate"])
    def terminate_account(self, request, queryset):
        return self._one_account(request, queryset, "terminate")

    @admin.action(description="Reported as under 13", permissions=["report_under_13"])
    def report_under_13(self, request, queryset):
        return self._one_account(request, queryset, "under_13")

    def _one_account(self, request, queryset, step: str):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one account for this.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse(f"admin:accounts_user_{step}", args=[ids[0]]))

    # --- Pages

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/terminate/",
                wrap(self.terminate_view),
                name="accounts_user_terminate",
            ),
            path(
                "<path:object_id>/under-13/",
                wrap(self.under_13_view),
                name="accounts_user_under_13",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and obj.is_active:
            steps, notes = [], []
            refusal = account_step_refusal(
                acting_user=request.user,
                user=obj,
                step="terminate, report as under 13 or open a deletion request for",
            )
            if obj.pk == request.user.pk:
                # As anyone else: from the account's own pages, after re-authenticating.
                notes.append(
                    "This is your own account: delete it from your account's pages "
                    "(Manage account); it cannot be terminated or reported from here."
                )
            elif refusal:
                notes.append(refusal[0].upper() + refusal[1:] + ".")
            else:
                if self.has_terminate_permission(request):
                    url = reverse("admin:accounts_user_terminate", args=[obj.pk])
                    steps.append(("Terminate account", url))
                if self.has_report_under_13_permission(request):
                    url = reverse("admin:accounts_user_under_13", args=[obj.pk])
                    steps.append(("Reported as under 13", url))
                if self.has_open_request_permission(request):
                    url = reverse("admin:privacy_deletionrequest_open")
                    steps.append(("Open a deletion request", f"{url}?account={obj.pk}"))
            extra_context["support_steps"] = steps
            extra_context["support_notes"] = notes
        return super().change_view(request, object_id, form_url, extra_context)

    def _refused(self, request, user: User, step: str) -> HttpResponse | None:
        """A step's page for an account this person may not act on: back to the account
        with why (on GET; a POST is refused by the action itself)."""
        refusal = account_step_refusal(acting_user=request.user, user=user, step=step)
        if request.method != "GET" or not refusal:
            return None
        self.message_user(request, f"Nothing was changed: {refusal}.", messages.ERROR)
        return HttpResponseRedirect(change_url(user))

    def terminate_view(self, request, object_id):
        user = step_target(self, request, object_id, allowed=self.has_terminate_permission(request))
        if isinstance(user, HttpResponse):
            return user
        if refused := self._refused(request, user, "terminate"):
            return refused

        def perform(data):
            termination = do_terminate_account(
                user=user,
                acting_user=request.user,
                reason_category=data["reason_category"],
                reason=data["reason"],
                notice_text=data["notice_text"],
            )
            return (
                f"Account #{user.pk} is terminated and the person notified; its data is "
                f"purged after {termination.purge_after:%Y-%m-%d} unless a legal hold is set.",
                change_url(termination),
            )

        return support_step(
            self,
            request,
            obj=user,
            form_class=TerminateForm,
            title="Terminate account",
            submit_label="Terminate the account",
            perform=perform,
            refused=STEP_ERRORS,
            initial={"notice_text": termination_notice_template(user)},
            intro=[
                "The account is closed at once: signed out everywhere, API keys revoked, "
                "sign-in refused. The person is told with the notice below.",
                "The account's data is purged after the grace period, unless a legal hold "
                "is set on the termination.",
            ],
            facts=account_facts(user),
        )

    def under_13_view(self, request, object_id):
        user = step_target(
            self, request, object_id, allowed=self.has_report_under_13_permission(request)
        )
        if isinstance(user, HttpResponse):
            return user
        if refused := self._refused(request, user, "report as under 13"):
            return refused

        def perform(data):
            deletion = do_report_under_13(user=user, acting_user=request.user, note=data["note"])
            return (
                f"Account #{user.pk} is closed and its data is being erased now.",
                change_url(deletion),
            )

        return support_step(
            self,
            request,
            obj=user,
            form_class=Under13Form,
            title="Reported as under 13",
            submit_label="Delete the account and all its data now",
            perform=perform,
            refused=STEP_ERRORS,
            intro=[
                "Our services are not directed to children under 13. On a report that this "
                "account belongs to one, the account is closed and all its data is erased "
                "at once, with no grace period.",
            ],
            warning="This cannot be undone.",
            facts=account_facts(user),
        )


# allauth's own admin pages for these, with deletion closed: a deleted address or session
# leaves admin history naming it (the address; an IP address and browser) that no purge
# can find afterwards, and deleting a session's row here would not end the session.
# They go with the account, through the deletion workflow.
admin.site.unregister(EmailAddress)
admin.site.unregister(UserSession)
# Confirmation keys are secrets that confirm an address: no one on staff needs them, and
# showing them would let staff confirm an address they do not control.
admin.site.unregister(EmailConfirmation)
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    """Which second factors an account has, to help someone locked out. Read-only and
    without `data` (an app's secret, a passkey's credential: a second factor for whoever
    reads it); deleting one would leave admin history naming the person, and take a
    way in from an account outside its owner's Security page."""

    raw_id_fields = ("user",)
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type", "created_at", "last_used_at")
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmailAddress)
class EmailAddressAdmin(AllauthEmailAddressAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UserSession)
class UserSessionAdmin(AllauthUserSessionAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False
