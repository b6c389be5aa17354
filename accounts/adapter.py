"""allauth customisation: the single place where sign-up and sign-in differ from stock."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import User


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        # allauth's form field accepts up to 320 characters (Django's default) while the
        # address columns hold 254: a longer address would be cut short on sign-up (an
        # account for, and a mail to, another address) and crash when added to an account.
        max_length = User._meta.get_field("email").max_length
        if len(email) > max_length:
            raise forms.ValidationError(
                f"An email address can have at most {max_length} characters "
                f"(this one has {len(email)})."
            )
        return super().clean_email(email)

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        # The sign-up form cannot validate without the 13+ confirmation, so reaching
        # here means the person confirmed it now.
        user.age_confirmed_at = timezone.now()
        return super().save_user(request, user, form, commit=commit)

    def respond_user_inactive(self, request: HttpRequest, user) -> HttpResponse:
        # Reached only after a correct password (or wallet signature): only then may a
        # terminated person read the notice of why (the policy's "with notice to you";
        # the one way to tell an account without a usable email address). Rendered
        # here, not behind a redirect: /accounts/inactive/ itself shows nothing personal.
        from privacy.actions import termination_notice_for

        notice = termination_notice_for(user)
        if notice is None:
            return super().respond_user_inactive(request, user)
        return TemplateResponse(
            request, "account/account_inactive.html", {"termination_notice": notice}
        )
