"""Support steps in the admin: a confirmation page, then one action.

Staff change lifecycle-owned rows (a deletion request, a termination, an account) only
through steps: a GET shows what will happen and a form, the POST (CSRF-protected by the
admin) calls one action with acting_user=request.user. The action checks the step under
its row lock, so a step the state no longer allows is refused there: an error message
and a redirect, never a 500, and nothing changed. Used by privacy/admin.py and
accounts/admin.py; the page is templates/admin/support_step.html.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from portal.compat import object_does_not_exist_redirect, unquote

# The mail a step sends inside its transaction could not go out (SMTPException is one).
MAIL_ERRORS = (OSError,)


def support_step(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    obj: Model | None,
    form_class: type[forms.Form],
    title: str,
    submit_label: str,
    perform: Callable[[dict[str, Any]], tuple[str, str]],
    refused: tuple[type[Exception], ...],
    done_url: str | None = None,
    cancel_url: str | None = None,
    intro: Iterable[str] = (),
    warning: str = "",
    facts: Iterable[tuple[str, Any]] = (),
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """GET: the confirmation page. POST: validate, call `perform` (which returns the
    success message and where to go), or show why nothing changed. A refused step goes
    back to `done_url`, by default the object's change page.

    `refused` are the exceptions by which the action refuses the step (for a transition
    the current state refuses, checked under the row lock, so a request that moved on
    since the page was shown is refused too); each is an error message and a redirect,
    never a 500, and the action's transaction has rolled back.
    """
    done_url = done_url or change_url(obj)
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                message, url = perform(form.cleaned_data)
            except refused as error:
                model_admin.message_user(request, f"Nothing was changed: {error}.", messages.ERROR)
                return HttpResponseRedirect(done_url)
            except MAIL_ERRORS as error:
                model_admin.message_user(
                    request,
                    f"Nothing was changed: the mail to the requester could not be sent "
                    f"({error}). Try again later.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(done_url)
            model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(url)
    else:
        form = form_class(initial=initial)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "object": obj,
        "object_label": str(obj) if obj is not None else "",
        "form": form,
        "submit_label": submit_label,
        "cancel_url": cancel_url or done_url,
        "intro": list(intro),
        "warning": warning,
        "facts": list(facts),
    }
    return TemplateResponse(request, "admin/support_step.html", context)


def change_url(obj: Model) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def step_target(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, *, allowed: bool
) -> Model | HttpResponse:
    """The object a support step's page acts on: PermissionDenied without the step's
    permission, the admin's own "does not exist" redirect for an unknown id."""
    if not allowed:
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        return object_does_not_exist_redirect(model_admin, request, object_id)
    return obj


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the lifecycle owns: nobody adds, changes or deletes them in the admin (the
    change page is a read-only view; support's steps are pages of their own)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OverdueFilter(admin.SimpleListFilter):
    """Open items past their due date, the ones support must answer first: for a model
    with `due_at`, `status` and OPEN_STATUSES (deletion requests, support tickets)."""

    title = "due date"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        overdue = Q(due_at__lt=timezone.now(), status__in=queryset.model.OPEN_STATUSES)
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset
