"""State changes to identity. Views, admin and tasks call these; nothing else writes."""

from __future__ import annotations

import datetime as dt
import functools
from importlib import import_module
from typing import TYPE_CHECKING

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import (
    API_KEY_PREFIX,
    ApiKey,
    SecurityNotice,
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
    *,
    user: User,
    acting_user: User,
    name: str,
    logging: str = ApiKey.Logging.AS_ACCOUNT,
    provider_rules: dict[str, bool] | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key for `user` and return it with the raw key. `provider_rules`
    (ApiKey.PROVIDER_RULE_FIELDS -> bool, those left out off) narrow the account's
    provider choices for this key from its first request.

    The raw key exists only in the return value: the database keeps its SHA-256.
    Side effects: inserts one ApiKey row.
    """
    rules = dict.fromkeys(ApiKey.PROVIDER_RULE_FIELDS, False)
    for rule, value in (provider_rules or {}).items():
        if rule not in rules or not isinstance(value, bool):
            raise ValueError(f"not a key rule or not a boolean: {rule}={value!r}")
        rules[rule] = value
    raw_key = generate_api_key()
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw_key[: len(API_KEY_PREFIX) + 6],
        hashed_key=hash_api_key(raw_key),
        logging=logging,
        **rules,
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
    Side effects: inserts one Wallet row; a security notice (and, after commit, a mail
    to each verified address) tells the owner a new way in was added.
    """
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(user=user, address=address)
            do_add_security_notice(
                user=user, kind=SecurityNotice.Kind.WALLET_ADDED, subject=address
            )
            return wallet
    except IntegrityError as exc:
        raise WalletTaken(address) from exc


@transaction.atomic
def do_remove_wallet(
    *, wallet: Wallet, acting_user: User, keep_session_key: str | None = None
) -> int:
    """Unlink `wallet`. Raises LastSignInMethod when the account would have no sign-in
    left: no other wallet, and no password with a verified email address to sign in
    with (sign-in is by email; a password alone opens nothing, and an address alone
    needs a password).

    Returns how many sessions ended. Side effects: deletes the Wallet row and ends every
    session the wallet signed in or confirmed, except `keep_session_key` (the remover's).
    """
    user = User.objects.select_for_update().get(pk=wallet.user_id)
    others = Wallet.objects.filter(user=user).exclude(pk=wallet.pk).exists()
    if not others and not signs_in_with_password(user):
        raise LastSignInMethod
    wallet.delete()
    return do_end_sessions_signed_in_with(
        user=user, keep_session_key=keep_session_key, address=wallet.address
    )


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


# --- Email addresses: whoever proves they control an address owns it -----------------


def lock_address(email: str) -> None:
    """Serialise everything that decides who owns `email` (confirmations racing each
    other, a confirmation racing the expiry clean-up): a transaction-scoped advisory
    lock on the address, held until the caller's transaction ends."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"address:{email.lower()}"]
        )


@transaction.atomic
def do_take_address(*, owner: User, email: str) -> list[int]:
    """`owner` just verified `email`: every other account's unverified copy of it goes.

    Call inside the confirmation's transaction, under `lock_address(email)`. A copy is
    no way in (sign-in asks to confirm it, a reset never goes to it), but it must not
    linger as a claim on someone else's address either. An account left with no way in
    at all (it was made by signing up with the address and never confirmed it) is
    closed and erased like any deleted account.

    Returns the ids of the accounts that lost a copy.
    Side effects: deletes their EmailAddress rows (and allauth's confirmations of them),
    moves their User.email to another of their addresses or NULL, writes a security
    notice on each, and closes the accounts left with no way in.
    """
    from accounts.selectors import has_sign_in_left

    email = email.lower()
    copies = list(
        EmailAddress.objects.select_related("user")
        .filter(email=email, verified=False)
        .exclude(user_id=owner.pk)
        .order_by("pk")
    )
    for copy in copies:
        copy.remove()  # allauth's: also re-points User.email
        user = copy.user
        if has_sign_in_left(user):
            do_add_security_notice(
                user=user, kind=SecurityNotice.Kind.ADDRESS_RELEASED, subject=email, mail=False
            )
        else:
            _close_account_nobody_can_enter(user)
    return [copy.user_id for copy in copies]


def _close_account_nobody_can_enter(user: User) -> None:
    from privacy.deletion.account import do_erase_unconfirmed_account

    if user.is_active:
        do_erase_unconfirmed_account(user=user)


# Unconfirmed addresses are forgotten in batches of this many, one transaction each,
# so the daily clean-up never holds many address locks at once.
FORGET_BATCH = 500


def do_forget_unconfirmed_addresses(*, now: dt.datetime | None = None) -> int:
    """Remove every unverified address whose newest confirmation link has expired
    (ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS after it was sent): a claim nobody proved
    lapses. An account left with no way in (it signed up with that address and never
    confirmed it) is closed and erased. Runs daily, before expired confirmations are
    deleted; an address with no confirmation at all (one is sent as it is added) is
    left alone.

    Returns how many addresses were removed. Side effects: deletes those EmailAddress
    rows (their confirmations with them), re-points User.email, writes a security
    notice on each account that keeps a way in, closes the others.
    """
    from allauth.account.models import EmailConfirmation
    from django.conf import settings
    from django.db.models import Exists, OuterRef, Q

    from accounts.selectors import has_sign_in_left

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS)
    confirmations = EmailConfirmation.objects.filter(email_address=OuterRef("pk"))
    live = confirmations.filter(Q(sent__gte=cutoff) | Q(sent__isnull=True, created__gte=cutoff))
    lapsed = EmailAddress.objects.filter(
        Exists(confirmations), ~Exists(live), verified=False
    ).order_by("pk")
    removed = 0
    last_pk = 0
    while batch := list(lapsed.filter(pk__gt=last_pk).values_list("pk", "email")[:FORGET_BATCH]):
        last_pk = batch[-1][0]
        for pk, email in batch:
            with transaction.atomic():
                lock_address(email)
                # Confirmed, or sent a new link, since the batch was read: it stays.
                address = lapsed.select_related("user").filter(pk=pk).first()
                if address is None:
                    continue
                address.remove()
                removed += 1
                if has_sign_in_left(address.user):
                    do_add_security_notice(
                        user=address.user,
                        kind=SecurityNotice.Kind.ADDRESS_RELEASED,
                        subject=email,
                        mail=False,
                    )
                else:
                    _close_account_nobody_can_enter(address.user)
        if len(batch) < FORGET_BATCH:
            break
    return removed


# --- Security notices ----------------------------------------------------------------

NOTICE_MAIL = "accounts/email/security_notice"


@transaction.atomic
def do_add_security_notice(
    *, user: User, kind: str, subject: str = "", mail: bool = True
) -> SecurityNotice:
    """Tell the owner of `user` that a way into the account changed: a notice on every
    page until dismissed, and (unless `mail` is off: allauth already mailed about
    passwords) after commit a mail to each verified address, the new one included.
    The mail names the current request's address and browser: mail only from a request.

    Side effects: inserts a SecurityNotice and sets user.security_notice_at.
    """
    from allauth.core import context

    notice = SecurityNotice.objects.create(user=user, kind=kind, subject=subject)
    User.objects.filter(pk=user.pk).update(security_notice_at=notice.created_at)
    user.security_notice_at = notice.created_at
    if mail:
        # allauth's mail names the request's address and browser: it goes with it.
        transaction.on_commit(
            functools.partial(_mail_security_notice, notice.pk, context.request), robust=True
        )
    return notice


def _mail_security_notice(notice_id: int, request: HttpRequest) -> None:
    from allauth.account.adapter import get_adapter
    from allauth.core import context

    notice = SecurityNotice.objects.select_related("user").filter(pk=notice_id).first()
    if notice is None:
        return
    with context.request_context(request):
        get_adapter().send_notification_mail(NOTICE_MAIL, notice.user, {"notice": notice})


@transaction.atomic
def do_dismiss_security_notices(*, user: User, acting_user: User) -> int:
    """The person read their security notices.

    Side effects: sets dismissed_at on each unread notice; clears security_notice_at.
    """
    dismissed = SecurityNotice.objects.filter(user=user, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )
    User.objects.filter(pk=user.pk).update(security_notice_at=None)
    user.security_notice_at = None
    return dismissed


# --- Sessions -------------------------------------------------------------------------


def do_end_sessions_signed_in_with(
    *, user: User, keep_session_key: str | None, email: str = "", address: str = ""
) -> int:
    """End the account's sessions that the email address `email` or the wallet
    `address` signed in or confirmed, now that it was removed, except the session
    `keep_session_key` (the person who removed it, just re-authenticated).

    Returns how many ended. Side effects: ends those sessions (the session store and
    allauth's UserSession rows).
    """
    from allauth.usersessions.models import UserSession

    ended = 0
    for user_session in UserSession.objects.filter(user_id=user.pk).order_by("pk"):
        if keep_session_key and user_session.session_key == keep_session_key:
            continue
        if _signed_in_with(user_session, email=email.lower(), address=address.lower()):
            user_session.end()
            ended += 1
    return ended


def _signed_in_with(user_session, *, email: str, address: str) -> bool:
    # allauth keeps how a session authenticated in the session itself: one record per
    # sign-in or confirmation, with the address (email) or wallet it used.
    from portal.compat import AUTHENTICATION_METHODS_SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore(user_session.session_key)
    records = store.get(AUTHENTICATION_METHODS_SESSION_KEY)
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict):
            continue
        if email and str(record.get("email", "")).lower() == email:
            return True
        if address and str(record.get("address", "")).lower() == address:
            return True
    return False


def do_set_up_authenticator_app(*, user: User, secret: str) -> Authenticator:
    """Give `user` an authenticator app (TOTP) with `secret`, as allauth's Security page
    does once a code checks out. For the demo data: people set theirs up on that page.

    Side effects: creates an allauth.mfa Authenticator row (one per account: a second
    one is refused by its unique constraint).
    """
    from portal.compat import TOTP

    return TOTP.activate(user, secret).instance
