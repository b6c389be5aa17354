"""allauth's sign-up and password-reset forms under the portal's rule for addresses:
whoever proves they control an address owns it.

An address belongs to the account that verified it (allauth's EmailAddress with
`verified`, unique among all accounts). An address some account holds without having
verified it proves nothing: signing up with it makes a new account, and it never
receives a password reset. Both answers look the same whatever the address, so neither
form tells a visitor which addresses have accounts.

Kept apart from accounts/forms.py: allauth builds its sign-up form on top of
`ACCOUNT_SIGNUP_FORM_CLASS` (accounts.forms.SignupForm), so importing allauth's forms
there would be circular.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.forms import ResetPasswordForm, SignupForm

from accounts.selectors import users_owning_address


class OwnedAddressSignupForm(SignupForm):
    def validate_unique_email(self, value: str) -> str:
        # allauth counts an unverified copy on another account as "taken" and, to hide
        # that, makes no account and mails "you already have one; reset your password":
        # a reset that would have opened the other account to its creator's other ways
        # in. Only the owner of a verified address gets that mail now.
        self.account_already_exists = bool(users_owning_address(value))
        return get_adapter().validate_unique_email(value)


class OwnedAddressResetPasswordForm(ResetPasswordForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        # allauth also resets accounts that only hold the address unverified when no
        # account has verified it: a reset link would then prove nothing about who
        # controls the account's other ways in. Nobody gets a link for such an address
        # (the mail says how to confirm it instead).
        self.users = users_owning_address(email, is_active=True)
        return email
