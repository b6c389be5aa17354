"""What identity does when allauth reports a change to how an account is entered.

allauth sends these signals from its own flows (password change, set and reset, email
removal, a second factor added); the portal's answer to each is one action.
"""

from __future__ import annotations

from allauth.account import signals
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.dispatch import receiver

from accounts.actions import do_add_security_notice, do_end_sessions_signed_in_with
from accounts.models import SecurityNotice


def _password_notice(kind: str):
    def _receive(sender, request, user, **kwargs) -> None:
        # allauth mails its own notice about passwords (to every verified address, see
        # AccountAdapter.send_notification_mail); the portal adds the in-app one.
        do_add_security_notice(user=user, kind=kind, mail=False)

    return _receive


_on_password_set = _password_notice(SecurityNotice.Kind.PASSWORD_SET)
_on_password_changed = _password_notice(SecurityNotice.Kind.PASSWORD_CHANGED)
_on_password_reset = _password_notice(SecurityNotice.Kind.PASSWORD_RESET)
signals.password_set.connect(_on_password_set, dispatch_uid="accounts.password_set")
signals.password_changed.connect(_on_password_changed, dispatch_uid="accounts.password_changed")
signals.password_reset.connect(_on_password_reset, dispatch_uid="accounts.password_reset")


@receiver(signals.email_removed, dispatch_uid="accounts.email_removed")
def _end_sessions_of_removed_address(sender, request, user, email_address, **kwargs) -> None:
    current = request.session.session_key if request is not None else None
    ended = do_end_sessions_signed_in_with(
        user=user, keep_session_key=current, email=email_address.email
    )
    if request is not None and ended:
        messages.info(
            request,
            f"{ended} other session{'s' if ended != 1 else ''} signed in with "
            f"{email_address.email} {'were' if ended != 1 else 'was'} ended.",
        )


@receiver(mfa_signals.authenticator_added, dispatch_uid="accounts.authenticator_added")
def _second_factor_notice(sender, request, user, authenticator, **kwargs) -> None:
    # An authenticator app or a passkey (which can also sign in alone); recovery codes
    # come with the app. allauth mails its own notice; the portal adds the in-app one.
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        return
    do_add_security_notice(
        user=user,
        kind=SecurityNotice.Kind.SECOND_FACTOR_ADDED,
        subject=(
            f"passkey {authenticator.wrap().name}"
            if authenticator.type == Authenticator.Type.WEBAUTHN
            else "authenticator app"
        ),
        mail=False,
    )
