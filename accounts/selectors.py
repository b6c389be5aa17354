"""Reads about accounts that more than one caller needs."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.mfa.models import Authenticator
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from accounts.models import User, Wallet
from portal.compat import get_authentication_records

# What counts as a second factor: recovery codes only stand in for one of these.
SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


@dataclass(frozen=True)
class AccountSection:
    title: str
    url: str
    description: str


# (url name, title, description). A section appears in the hub only once its URL
# exists, so the hub never links to a page that is not there.
_SECTIONS = [
    ("account_profile", "Profile", "Your display name and other details you can change."),
    ("account_email", "Email addresses", "Add, verify or remove addresses; choose the primary."),
    ("account_change_password", "Password", "Change your password."),
    (
        "mfa_index",
        "Security",
        "Two-factor sign-in: an authenticator app with recovery codes, and passkeys.",
    ),
    ("usersessions_list", "Sessions", "Where you are signed in; end the other sessions."),
    ("account_keys", "API keys", "Create, name and revoke the keys the API accepts."),
    ("account_wallets", "Wallets", "Ethereum wallets you sign in with."),
    ("account_privacy", "Privacy", "Prompt logging and the provider data policies you accept."),
    ("account_activity", "Activity", "Your requests: model, provider, app, tokens and cost."),
    ("account_data", "Your data", "Download your data or delete stored prompts."),
    ("account_manage", "Manage account", "Delete your account and personal data."),
]


def account_sections(*, user: User) -> list[AccountSection]:
    sections = []
    for url_name, title, description in _SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        sections.append(AccountSection(title=title, url=url, description=description))
    return sections


def users_owning_address(email: str, *, is_active: bool | None = None) -> list[User]:
    """The account that verified `email` (at most one: verified addresses are unique),
    as a list. An account holding the address unverified does not own it."""
    from allauth.account.models import EmailAddress

    owners = User.objects.filter(
        pk__in=EmailAddress.objects.filter(email=email.lower(), verified=True).values("user_id")
    )
    if is_active is not None:
        owners = owners.filter(is_active=is_active)
    return list(owners)


def verified_addresses(user: User) -> list[str]:
    """Every address `user` verified, the primary first: where account mail goes."""
    from allauth.account.models import EmailAddress

    return list(
        EmailAddress.objects.filter(user_id=user.pk, verified=True)
        .order_by("-primary", "pk")
        .values_list("email", flat=True)
    )


def has_sign_in_left(user: User) -> bool:
    """Whether any way into the account remains: a wallet, or an email address (a
    verified one signs in; an unverified one can still be confirmed at sign-in)."""
    from allauth.account.models import EmailAddress

    return (
        Wallet.objects.filter(user_id=user.pk).exists()
        or EmailAddress.objects.filter(user_id=user.pk).exists()
    )


def confirmation_needs_account_session(email_address) -> bool:
    """Whether confirming `email_address` needs a session signed in to its account.

    An address added to an account that already has a way in (a wallet, or another
    verified address) is confirmed only by someone signed in to that account: else
    whoever added someone else's address could have its owner click it onto an account
    they do not control. The address an account signed up with is confirmed from the
    mail alone: that account has no other way in to hand over.
    """
    from allauth.account.models import EmailAddress

    return (
        Wallet.objects.filter(user_id=email_address.user_id).exists()
        or EmailAddress.objects.filter(user_id=email_address.user_id, verified=True)
        .exclude(pk=email_address.pk)
        .exists()
    )


def has_second_factor(*, user: User) -> bool:
    """Whether the account has an authenticator app or a passkey."""
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exists()


def used_second_factor(request: HttpRequest) -> bool:
    """Whether this session's sign-in, or a confirmation since, used a second factor
    (allauth records each step of a sign-in in the session, the second factor as "mfa")."""
    return any(
        record.get("method") == "mfa"
        for record in get_authentication_records(request, request.user)
    )
