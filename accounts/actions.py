"""State changes to identity. Views, admin and tasks call these; nothing else writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    API_KEY_PREFIX,
    ApiKey,
    User,
    Wallet,
    generate_api_key,
    hash_api_key,
)

if TYPE_CHECKING:
    from allauth.mfa.models import Authenticator


class WalletTaken(Exception):
    """The wallet is already linked to an account (this one or another)."""


class LastSignInMethod(Exception):
    """Removing it would leave the account with no way to sign in."""


@transaction.atomic
def do_update_profile(*, user: User, acting_user: User, display_name: str) -> User:
    """Change the modifiable personal information of `user`.

    Side effects: saves the user row (display_name only).
    """
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user


@transaction.atomic
def do_create_api_key(
    *, user: User, acting_user: User, name: str, logging: str = ApiKey.Logging.AS_ACCOUNT
) -> tuple[ApiKey, str]:
    """Create an API key for `user` and return it with the raw key.

    The raw key exists only in the return value: the database keeps its SHA-256.
    Side effects: inserts one ApiKey row.
    """
    raw_key = generate_api_key()
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw_key[: len(API_KEY_PREFIX) + 6],
        hashed_key=hash_api_key(raw_key),
        logging=logging,
    )
    return api_key, raw_key


@transaction.atomic
def do_rename_api_key(*, api_key: ApiKey, acting_user: User, name: str) -> ApiKey:
    """Side effects: saves the key's name."""
    api_key.name = name
    api_key.save(update_fields=["name"])
    return api_key


@transaction.atomic
def do_revoke_api_key(*, api_key: ApiKey, acting_user: User | None) -> bool:
    """Revoke `api_key`; the gateway's next decision for it is 401.

    Returns False when it was already revoked (revoking twice changes nothing).
    Side effects: sets revoked_at.
    """
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    api_key.refresh_from_db(fields=["revoked_at"])
    return bool(updated)


def do_sign_up_with_wallet(*, address: str, display_name: str = "") -> User:
    """Create an account whose only sign-in is the wallet at `address` (checksummed,
    its signature already verified). The person confirmed being 13 or older just now.

    Raises WalletTaken if the address got an account meanwhile (nothing is written).
    Side effects: inserts the user (no email, no usable password) and its wallet.
    """
    try:
        with transaction.atomic():
            user = User(display_name=display_name, age_confirmed_at=timezone.now())
            user.set_unusable_password()
            user.save()
            Wallet.objects.create(user=user, address=address, last_used_at=timezone.now())
    except IntegrityError as exc:
        raise WalletTaken(address) from exc
    return user


def do_add_wallet(*, user: User, acting_user: User, address: str) -> Wallet:
    """Link the wallet at `address` (signature verified) to `user` as a sign-in.

    Raises WalletTaken if any account already has it (nothing is written).
    Side effects: inserts one Wallet row.
    """
    try:
        with transaction.atomic():
            return Wallet.objects.create(user=user, address=address)
    except IntegrityError as exc:
        raise WalletTaken(address) from exc


@transaction.atomic
def do_remove_wallet(*, wallet: Wallet, acting_user: User) -> None:
    """Unlink `wallet`. Raises LastSignInMethod when the account would have no sign-in
    left: no other wallet, and no password with a verified email address to sign in
    with (sign-in is by email; a password alone opens nothing, and an address alone
    needs a password).

    Side effects: deletes the Wallet row.
    """
    user = User.objects.select_for_update().get(pk=wallet.user_id)
    others = Wallet.objects.filter(user=user).exclude(pk=wallet.pk).exists()
    if not others and not signs_in_with_password(user):
        raise LastSignInMethod
    wallet.delete()


def signs_in_with_password(user: User) -> bool:
    """Whether the account can sign in with email and password: a usable password and a
    verified address (the only kind allauth signs in with here)."""
    from allauth.account.models import EmailAddress

    return (
        user.has_usable_password()
        and EmailAddress.objects.filter(user=user, verified=True).exists()
    )


def do_record_wallet_use(*, wallet: Wallet) -> None:
    """Side effects: sets the wallet's last_used_at (a sign-in or a confirmation)."""
    Wallet.objects.filter(pk=wallet.pk).update(last_used_at=timezone.now())


def do_set_up_authenticator_app(*, user: User, secret: str) -> Authenticator:
    """Give `user` an authenticator app (TOTP) with `secret`, as allauth's Security page
    does once a code checks out. For the demo data: people set theirs up on that page.

    Side effects: creates an allauth.mfa Authenticator row (one per account: a second
    one is refused by its unique constraint).
    """
    from allauth.mfa.totp.internal.auth import TOTP

    return TOTP.activate(user, secret).instance
