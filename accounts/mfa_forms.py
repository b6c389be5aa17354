"""allauth.mfa's passkey forms (MFA_FORMS), refusing a malformed credential with a form
error instead of a 500.

allauth catches the TypeError and ValueError fido2 raises for a credential it cannot
parse, but fido2 also raises KeyError (a missing "rawId") and IndexError: each is bad
input from the browser, or from someone forging one, never a server fault.
"""

from __future__ import annotations

from allauth.mfa.adapter import get_adapter
from allauth.mfa.webauthn import forms

_MALFORMED = (KeyError, IndexError, TypeError, ValueError)


class AddWebAuthnForm(forms.AddWebAuthnForm):
    def clean(self) -> dict:
        try:
            return super().clean()
        except _MALFORMED:
            raise get_adapter().validation_error("incorrect_code") from None


class _CheckedCredential:
    def clean_credential(self):
        try:
            return super().clean_credential()
        except _MALFORMED:
            raise get_adapter().validation_error("incorrect_code") from None


class AuthenticateWebAuthnForm(_CheckedCredential, forms.AuthenticateWebAuthnForm):
    pass


class LoginWebAuthnForm(_CheckedCredential, forms.LoginWebAuthnForm):
    pass


class ReauthenticateWebAuthnForm(_CheckedCredential, forms.ReauthenticateWebAuthnForm):
    pass
