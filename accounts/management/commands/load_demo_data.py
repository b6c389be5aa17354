"""Idempotent demo data for `make run`: a user, a support-staff member with an
authenticator app (whose secret it prints) and the demo model catalog."""

from __future__ import annotations

import base64
import secrets

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.actions import do_set_up_authenticator_app
from accounts.models import User
from catalog.demo_data import load_demo_catalog

DEMO_USER = ("demo@portal.localhost", "demo-portal-password", "Demo User")
SUPPORT_GROUP = "Support"
DEMO_SUPPORT = ("support@portal.localhost", "support-portal-password", "Support Staff")


def _ensure_user(email: str, password: str, display_name: str, *, is_staff: bool) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={
            "display_name": display_name,
            "is_staff": is_staff,
            "age_confirmed_at": timezone.now(),
        },
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _authenticator_app_secret(user: User) -> str:
    """The account's authenticator-app secret, set up with a new random one if it has
    none (staff need a second factor to open the admin)."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is not None:
        return decrypt(existing.data["secret"])
    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    do_set_up_authenticator_app(user=user, secret=secret)
    return secret


class Command(BaseCommand):
    help = (
        "Create the demo user, the support-staff member and the demo model catalog "
        "(safe to run repeatedly)."
    )

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        # Its sign-ins and passwords are printed here and in the README: in production
        # they would be a staff account anyone can sign in to.
        if not settings.DEBUG:
            raise CommandError(
                "load_demo_data runs only in development (DEBUG on): its accounts have "
                "published passwords. Nothing was created."
            )
        _ensure_user(*DEMO_USER, is_staff=False)
        support = _ensure_user(*DEMO_SUPPORT, is_staff=True)
        # The group and its least privileges come from privacy's migration 0004.
        group = Group.objects.filter(name=SUPPORT_GROUP).first()
        if group is None:
            raise CommandError(f"no {SUPPORT_GROUP!r} group: run `manage.py migrate` first")
        support.groups.add(group)
        support_secret = _authenticator_app_secret(support)
        endpoints = load_demo_catalog()
        self.stdout.write(self.style.SUCCESS("Demo sign-ins:"))
        self.stdout.write(f"  user:          {DEMO_USER[0]} / {DEMO_USER[1]}")
        self.stdout.write(f"  support staff: {DEMO_SUPPORT[0]} / {DEMO_SUPPORT[1]}  (/admin/)")
        self.stdout.write(f"    and a code from an authenticator app with secret {support_secret}")
        self.stdout.write(f"    ({get_mfa_adapter().build_totp_url(support, support_secret)});")
        self.stdout.write(
            "    the current code: .venv/bin/python -c "
            f"\"import pyotp; print(pyotp.TOTP('{support_secret}').now())\""
        )
        self.stdout.write("  or any Ethereum wallet: /accounts/wallet/login/ (signs up a new one)")
        self.stdout.write(f"Demo catalog: {endpoints} endpoints (/models/).")
