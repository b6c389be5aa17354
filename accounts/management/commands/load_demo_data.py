"""Idempotent demo data for `make run`: a user and a support-staff member."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User

DEMO_USER = ("demo@portal.localhost", "demo-portal-password", "Demo User")
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


class Command(BaseCommand):
    help = "Create the demo user and support-staff member (safe to run repeatedly)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        _ensure_user(*DEMO_USER, is_staff=False)
        support = _ensure_user(*DEMO_SUPPORT, is_staff=True)
        support.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="accounts", codename="view_user")
        )
        self.stdout.write(self.style.SUCCESS("Demo sign-ins:"))
        self.stdout.write(f"  user:          {DEMO_USER[0]} / {DEMO_USER[1]}")
        self.stdout.write(f"  support staff: {DEMO_SUPPORT[0]} / {DEMO_SUPPORT[1]}  (/admin/)")
