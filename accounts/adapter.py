"""allauth customisation: the single place where sign-up and sign-in differ from stock."""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, Wallet


def confirmed_with_wallet_recently(request: HttpRequest) -> bool:
    """Whether the person signed a "confirm it is me" message with one of the account's
    wallets within allauth's reauthentication timeout."""
    if request is None or not request.user.is_authenticated:
        return False
    return any(
        record.get("method") == "wallet"
        and record.get("reauthenticated")
        and time.time() - record.get("at", 0) < account_settings.REAUTHENTICATION_TIMEOUT
        for record in get_authentication_records(request, request.user)
    )


def user_display(user) -> str:
    """How allauth names the person in its messages ("Successfully signed in as …"):
    what they sign in with, the wallet's address for a wallet account (ACCOUNT_USER_DISPLAY)."""
    return user.identity


def password_confirms(user) -> bool:
    """Whether allauth's password confirmation can succeed for `user`: it checks the
    password against the account's primary email address."""
    return user.has_usable_password() and EmailAddress.objects.get_primary_email(user) is not None


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
        if not commit:
            return super().save_user(request, user, form, commit=False)
        # Signing up is done under the policy in force (the form links it).
        from privacy.actions import do_acknowledge_policy
        from privacy.models import PolicyAcknowledgement
        from privacy.policy import CURRENT

        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            do_acknowledge_policy(
                user=user, version=CURRENT.version, how=PolicyAcknowledgement.How.SIGNUP
            )
        return user

    def get_reauthentication_methods(self, user) -> list[dict]:
        # allauth knows the password, codes and MFA; a wallet account may have none of
        # them (and allauth would then refuse every sensitive change outright).
        methods = super().get_reauthentication_methods(user)
        if user.is_authenticated and not password_confirms(user):
            # allauth checks the password against the primary address: without one, a
            # right password would be refused, so it is not offered.
            methods = [m for m in methods if m["id"] != "reauthenticate"]
        if user.is_authenticated and Wallet.objects.filter(user_id=user.pk).exists():
            # After the password, before a second factor: the first method is the one a
            # confirmation page opens with, and a wallet is how its account signs in.
            at = 1 if methods and methods[0]["id"] == "reauthenticate" else 0
            methods.insert(
                at,
                {
                    "id": "wallet_reauthenticate",
                    "description": "Sign with your wallet",
                    "url": reverse("wallet_reauthenticate"),
                },
            )
        return methods

    def get_login_stages(self) -> list[str]:
        stages = super().get_login_stages()
        allauths = "allauth.account.stages.EmailVerificationStage"
        return ["accounts.stages.EmailVerificationStage" if s == allauths else s for s in stages]

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # A wallet confirmation counts like a password one (allauth's own check only
        # counts the methods it knows).
        if confirmed_with_wallet_recently(context.request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

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


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_label(self, user) -> str:
        # How the authenticator app lists the account: what the person signs in with
        # (a wallet account has no email address, and allauth would show its id).
        return user.identity

    def get_public_key_credential_user_entity(self, user) -> dict:
        entity = super().get_public_key_credential_user_entity(user)
        entity["name"] = user.identity
        return entity
