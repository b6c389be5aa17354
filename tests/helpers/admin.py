"""Staff for the admin tests: members of the "Support" group that privacy's
migration 0004 creates, signed in to the admin with the test client as staff sign in
(password and authenticator app, tests/mfa.py)."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from accounts.models import User
from tests.factories.accounts import TraceableUserFactory
from tests.mfa import staff_client

SUPPORT_MIGRATION = importlib.import_module("privacy.migrations.0004_support_group")
SUPPORT_WALLETS_MIGRATION = importlib.import_module("privacy.migrations.0006_support_views_wallets")
SERVICE_PROVIDERS_MIGRATION = importlib.import_module(
    "privacy.migrations.0011_seed_service_providers"
)
SUPPORT_TICKETS_MIGRATION = importlib.import_module("support.migrations.0002_support_group")


def support_group() -> Group:
    """The group as the migration made it. A transactional test before this one
    flushed the tables (the migration's rows with them), so it is made again the same
    way; in a fresh test database this finds the migration's own group."""
    group = Group.objects.filter(name=SUPPORT_MIGRATION.GROUP).first()
    if group is None:

        class Editor:  # all the migration's function reads of its schema editor
            pass

        editor = Editor()
        editor.connection = connection
        SUPPORT_MIGRATION.forwards(apps, editor)
        SUPPORT_WALLETS_MIGRATION.forwards(apps, editor)
        SERVICE_PROVIDERS_MIGRATION.forwards(apps, editor)
        SUPPORT_TICKETS_MIGRATION.forwards(apps, editor)
        group = Group.objects.get(name=SUPPORT_MIGRATION.GROUP)
    return group


def seed_service_providers() -> None:
    """The service providers migration 0011 seeds, made again if a transactional test
    flushed them."""
    from privacy.models import ServiceProvider

    if not ServiceProvider.objects.exists():

        class Editor:
            pass

        editor = Editor()
        editor.connection = connection
        SERVICE_PROVIDERS_MIGRATION.forwards(apps, editor)


def make_support_member() -> User:
    member = TraceableUserFactory()
    member.is_staff = True
    member.save(update_fields=["is_staff"])
    member.groups.add(support_group())
    return User.objects.get(pk=member.pk)  # no cached permissions


def make_superuser() -> User:
    admin = TraceableUserFactory()
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    return admin


def admin_client(user: User) -> Client:
    return staff_client(user)


def user_list_action(client: Client, action: str, *users: User, **kwargs):
    """The admin's user list with `users` ticked and `action` chosen, as its form posts it."""
    return client.post(
        "/admin/accounts/user/",
        {"action": action, "_selected_action": [user.pk for user in users]},
        **kwargs,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
