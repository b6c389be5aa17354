"""Support tickets in the admin (support/README.md): every field read-only, the time
left to answer in the list, and two steps (portal/admin_steps.py), each a confirmation
page whose POST calls one action with acting_user=request.user:

- "Answer by mail": the answer is mailed to the ticket's address and kept on it;
- "Open the deletion request" / "Report as under 13": the ticket's request, about the
  account that confirmed the address support gives (the ticket's, filled in), through
  the privacy actions and their rules for staff; the ticket links to what it opened.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from portal.admin_steps import (
    OverdueFilter,
    ReadOnlyAdmin,
    change_url,
    step_target,
    support_step,
)
from portal.compat import unquote
from privacy.admin import OpenRequestForm
from support.actions import do_answer_ticket, do_convert_ticket
from support.errors import TICKET_STEP_ERRORS
from support.models import Ticket

Kind = Ticket.Kind


class AnswerForm(forms.Form):
    answer = forms.CharField(
        max_length=Ticket.ANSWER_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80}),
        help_text="Mailed to the ticket's address, from the no-reply sender with the support "
        "address as Reply-To, and kept on the ticket.",
    )


class ConvertForm(OpenRequestForm):
    """The account, by the address it confirmed (or its wallet), as for any request
    someone writes in with; the scope is the ticket's."""

    scope = None


class Under13ConvertForm(ConvertForm):
    confirm = forms.BooleanField(
        label="I understand that this deletes the account and all its data now, and that "
        "it cannot be undone."
    )


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "days_left", "received_at", "signed_in"]
    list_filter = ["status", OverdueFilter, "kind"]
    search_fields = ["=id", "=email"]
    date_hierarchy = "received_at"
    fieldsets = [
        (
            "Ticket",
            {
                "fields": [
                    "kind",
                    "email",
                    "message",
                    "signed_in",
                    "status",
                    "received_at",
                    "due_at",
                    "days_left",
                ]
            },
        ),
        ("Answer", {"fields": ["answer", "answered_at", "answered_by_id"]}),
        ("Request", {"fields": ["request_link", "converted_at", "converted_by_id"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_process_permission(self, request) -> bool:
        return request.user.has_perm("support.change_ticket")

    def has_convert_permission(self, request, ticket: Ticket) -> bool:
        needed = (
            "privacy.report_under_13"
            if ticket.kind == Kind.UNDER_13
            else "privacy.change_deletionrequest"
        )
        return self.has_process_permission(request) and request.user.has_perm(needed)

    # --- Columns and read-only fields

    @admin.display(description="days left", ordering="due_at")
    def days_left(self, obj: Ticket) -> str:
        if obj.status not in Ticket.OPEN_STATUSES:
            return "–"
        days = (obj.due_at - timezone.now()) / dt.timedelta(days=1)
        # Whole days, rounded towards overdue, as for deletion requests.
        whole = int(days // 1)
        return f"{whole} (overdue)" if whole < 0 else str(whole)

    @admin.display(description="sent signed in", boolean=True)
    def signed_in(self, obj: Ticket) -> bool:
        return obj.user_id is not None

    @admin.display(description="request")
    def request_link(self, obj: Ticket) -> str:
        request = obj.deletion_request
        if request is None:
            return "–"
        return format_html(
            '<a href="{}">{}</a> ({})', change_url(request), request, request.get_status_display()
        )

    # --- Pages

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/answer/", wrap(self.answer_view), name=f"{name}_answer"),
            path("<path:object_id>/convert/", wrap(self.convert_view), name=f"{name}_convert"),
            *super().get_urls(),
        ]

    @staticmethod
    def convert_label(ticket: Ticket) -> str:
        return "Report as under 13" if ticket.kind == Kind.UNDER_13 else "Open the deletion request"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_process_permission(request):
            steps = []
            if obj.answered_at is None:
                steps.append(
                    ("Answer by mail", reverse("admin:support_ticket_answer", args=[obj.pk]))
                )
            if (
                obj.kind in Ticket.CONVERTIBLE
                and obj.deletion_request_id is None
                and self.has_convert_permission(request, obj)
            ):
                url = reverse("admin:support_ticket_convert", args=[obj.pk])
                steps.append((self.convert_label(obj), url))
            extra_context["support_steps"] = steps
        return super().change_view(request, object_id, form_url, extra_context)

    def _facts(self, obj: Ticket) -> list[tuple[str, object]]:
        return [
            ("About", obj.get_kind_display()),
            ("From", obj.email),
            ("Received", obj.received_at),
            ("Due", obj.due_at),
            ("Message", obj.message),
        ]

    def answer_view(self, request, object_id):
        obj = step_target(self, request, object_id, allowed=self.has_process_permission(request))
        if isinstance(obj, HttpResponse):
            return obj
        if request.method == "GET" and obj.answered_at is not None:
            self.message_user(
                request, f"{obj} was answered already; go on by mail.", messages.ERROR
            )
            return HttpResponseRedirect(change_url(obj))

        def perform(data):
            do_answer_ticket(ticket=obj, acting_user=request.user, answer=data["answer"])
            return f"{obj} is answered: the answer was mailed to its address.", change_url(obj)

        return support_step(
            self,
            request,
            obj=obj,
            form_class=AnswerForm,
            title=f"Answer {obj}",
            submit_label="Send the answer",
            perform=perform,
            refused=TICKET_STEP_ERRORS,
            intro=["The person gets your answer by mail; a reply comes back to support."],
            facts=self._facts(obj),
        )

    def convert_view(self, request, object_id):
        obj = step_target(self, request, object_id, allowed=self.has_process_permission(request))
        if isinstance(obj, HttpResponse):
            return obj
        # A kind that opens nothing is refused whatever the method (the kind never
        # changes); a ticket converted already is refused by the action on POST too.
        if obj.kind not in Ticket.CONVERTIBLE or (
            request.method == "GET" and obj.deletion_request_id is not None
        ):
            why = (
                "it opens no request: answer it"
                if obj.kind not in Ticket.CONVERTIBLE
                else "it was turned into a request already"
            )
            self.message_user(request, f"Cannot convert {obj}: {why}.", messages.ERROR)
            return HttpResponseRedirect(change_url(obj))
        if not self.has_convert_permission(request, obj):
            return step_target(self, request, object_id, allowed=False)

        def perform(data):
            opened = do_convert_ticket(
                ticket=obj, acting_user=request.user, account=data["account"]
            )
            if obj.kind == Kind.UNDER_13:
                done = f"{obj} is reported: the account is closed and {opened} erases it now."
            else:
                done = f"{obj} opened {opened}. Verify the requester next."
            return done, change_url(opened)

        if obj.kind == Kind.UNDER_13:
            intro = [
                "The account that confirmed this address (or this wallet) is closed and all "
                "its data erased now, with no grace period. This cannot be undone.",
                "Check the report first: the address below is the reporter's, filled in; "
                "give the account's.",
            ]
        else:
            scope = Ticket.DELETION_SCOPES[Kind(obj.kind)]
            what = "its stored prompts and completions" if scope == "prompts" else "the account"
            intro = [
                f"Opens a request to delete {what} for the account that confirmed this "
                "address (or this wallet). It waits for verification, as one made in the "
                "account would: anyone can send a ticket with any address.",
            ]
        return support_step(
            self,
            request,
            obj=obj,
            form_class=Under13ConvertForm if obj.kind == Kind.UNDER_13 else ConvertForm,
            title=f"{self.convert_label(obj)} for {obj}",
            submit_label=self.convert_label(obj),
            perform=perform,
            refused=TICKET_STEP_ERRORS,
            intro=intro,
            warning="This cannot be undone." if obj.kind == Kind.UNDER_13 else "",
            facts=self._facts(obj),
            initial={"address": obj.email},
        )
