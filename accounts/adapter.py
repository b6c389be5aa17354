"""allauth customisation: the single place where sign-up and sign-in differ from stock."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.utils import timezone


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        # The sign-up form cannot validate without the 13+ confirmation, so reaching
        # here means the person confirmed it now.
        user.age_confirmed_at = timezone.now()
        return super().save_user(request, user, form, commit=commit)
