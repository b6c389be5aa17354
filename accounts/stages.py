"""Steps of allauth's sign-in that differ for the portal's accounts (AccountAdapter's
get_login_stages puts them in place of allauth's)."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.account.stages import EmailVerificationStage as AllauthEmailVerificationStage


class EmailVerificationStage(AllauthEmailVerificationStage):
    """allauth's "verify your email address first", except for an account that has no
    email address at all (a wallet account): there is nothing to verify, and allauth
    would hold it on a "we sent you a mail" page forever. A passkey signs such an account
    in; an account with an address, verified or not, is held as before."""

    def handle(self):
        user = self.login.user
        if (
            user is not None
            and not user.email
            and not self.login.email
            and not EmailAddress.objects.filter(user_id=user.pk).exists()
        ):
            return None, True
        return super().handle()
