"""allauth customisation: the single place where sign-up and sign-in differ from stock."""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
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
from portal.compat import get_authentication_records
from portal.redirects import is_local_path


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

    def is_safe_url(self, url: str) -> bool:
        # allauth's `next` goes through the portal's one rule (portal/redirects.py): a
        # path on this site only. allauth's own check also takes a bare word, which
        # becomes a relative redirect, and a URL to any host in ALLOWED_HOSTS.
        return context.request is not None and is_local_path(context.request, url or "")

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        # The sign-up form cannot validate without the 13+ confirmation, so reaching
        # here means the person confirmed it now.
        user.age_confirmed_at = timezone.now()
        if not commit:
            return super().save_user(request, user, form, commit=False)
        # Signing up is done under the policy and the terms in force (the form links them).
        from privacy.models import PolicyAcknowledgement, TermsAcknowledgement
        from privacy.policy import CURRENT, do_acknowledge_policy
        from privacy.terms import CURRENT as CURRENT_TERMS
        from privacy.terms import do_acknowledge_terms

        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            do_acknowledge_policy(
                user=user, version=CURRENT.version, how=PolicyAcknowledgement.How.SIGNUP
            )
            do_acknowledge_terms(
                user=user, version=CURRENT_TERMS.version, how=TermsAcknowledgement.How.SIGNUP
            )
        return user

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        # Whoever proves they control an address owns it: confirming takes the address
        # from every account that only holds it unverified, in the same transaction, and
        # under a lock on the address, so two accounts confirming it at once cannot both
        # win (the second is refused as allauth refuses any taken address).
        from accounts.actions import do_add_security_notice, do_take_address, lock_address
        from accounts.models import SecurityNotice
        from accounts.selectors import confirmation_needs_account_session

        user = getattr(request, "user", None)
        in_its_session = user is not None and user.pk == email_address.user_id
        # An account that could already be entered gains a way in; the address an
        # account signed up with is how it begins, and no earlier owner needs telling.
        adds_a_way_in = confirmation_needs_account_session(email_address)
        if adds_a_way_in and not in_its_session:
            return False  # accounts/address_views.py explains this to the person
        with transaction.atomic():
            lock_address(email_address.email)
            confirmed = super().confirm_email(request, email_address)
            if confirmed:
                do_take_address(owner=email_address.user, email=email_address.email)
                if adds_a_way_in:
                    do_add_security_notice(
                        user=email_address.user,
                        kind=SecurityNotice.Kind.ADDRESS_VERIFIED,
                        subject=email_address.email,
                    )
        return confirmed

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # What the portal's mail templates say besides allauth's context: how long a
        # confirmation link lives, and where to end every other session.
        request = context.get("request") or globals()["context"].request
        extra = {"expiration_days": account_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS}
        if request is not None:
            extra["sessions_url"] = request.build_absolute_uri(reverse("usersessions_list"))
        super().send_mail(template_prefix, email, {**extra, **context})

    def render_mail(self, template_prefix: str, email: str, context: dict, headers=None):
        # Every account mail comes from a no-reply sender: a reply reaches support.
        from portal.contact import reply_to

        message = super().render_mail(template_prefix, email, context, headers=headers)
        message.reply_to = reply_to()
        return message

    def send_confirmation_mail(self, request, emailconfirmation, signup: bool) -> None:
        # At most one link every 3 minutes per account and address, so nobody's inbox is
        # flooded (settings.ACCOUNT_RATE_LIMITS explains why not per address alone). A
        # link not sent leaves the last one valid.
        address = emailconfirmation.email_address
        if self._confirmation_mail_allowed(request, f"{address.user_id}:{address.email}"):
            super().send_confirmation_mail(request, emailconfirmation, signup)

    def send_account_already_exists_mail(self, email: str) -> None:
        if self._confirmation_mail_allowed(context.request, f"owner:{email.lower()}"):
            super().send_account_already_exists_mail(email)

    @staticmethod
    def _confirmation_mail_allowed(request: HttpRequest | None, key: str) -> bool:
        from portal.compat import allauth_ratelimit as ratelimit

        if request is None:
            return True
        usage = ratelimit.consume(
            request,
            app="allauth.account",
            action="confirm_email_per_account",
            key=key,
            limit_get=True,
        )
        return usage is not None

    def send_notification_mail(self, template_prefix, user, context=None, email=None) -> None:
        # allauth mails a notice to the primary address, which may be one the account
        # never verified (and so perhaps someone else's). The owner is told at every
        # address the account verified, and only there.
        from accounts.selectors import verified_addresses

        if email is not None:
            super().send_notification_mail(template_prefix, user, context, email=email)
            return
        for address in verified_addresses(user):
            super().send_notification_mail(template_prefix, user, context, email=address)

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
        from privacy.termination.terminate import termination_notice_for

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
